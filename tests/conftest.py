"""Shared fixtures: tiny folders in the exact DEAP and MAHNOB-HCI on-disk formats.

The writers live in ``tests/fakedata.py`` so that any test can build its own variant.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fakedata  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: The seed the test suite executes the book with: not the book's default (0), so that what the
#: chapters claim is checked on data the defaults were never looked at on.
BOOK_SEED = 1


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """Every notebook executed with papermill (smoke profile, seed :data:`BOOK_SEED`) and the book
    built, once per run.

    Shared by the notebook-execution, warning-scan and browser tests.  Returns ``(folder,
    BookReport)``; the folder holds ``chapters/`` (executed notebooks) and ``_build/html``.
    """
    from emolab.book import build_book

    out = tmp_path_factory.mktemp("book")
    report = build_book(ROOT, out_dir=out, parameters={"seed": BOOK_SEED})
    return out, report


@pytest.fixture
def deap_folder(tmp_path) -> fakedata.FakeDeap:
    """Subjects 1, 2 (with face videos, trial 3 of subject 2 missing) and 23 (no videos);
    4 trials of 4 s each, presentation order a per-subject permutation of Experiment_id."""
    return fakedata.write_deap_folder(
        tmp_path / "deap", subjects=(1, 2, 23), n_trials=4, missing_videos={2: [3]}, seed=1
    )


@pytest.fixture
def mahnob_sessions() -> list[fakedata.FakeSession]:
    """Two rated sessions of subject 1, one neutral (unrated) session, one rated of subject 2."""
    return [
        fakedata.FakeSession(session_id=10, subject=1, cut_nr=3),
        fakedata.FakeSession(session_id=11, subject=1, is_stim=False, ratings=None),
        fakedata.FakeSession(session_id=12, subject=1, cut_nr=5,
                             ratings={"feltVlnc": 2, "feltArsl": 8, "feltEmo": 4}),
        fakedata.FakeSession(session_id=20, subject=2, cut_nr=3),
    ]


@pytest.fixture
def mahnob_folder(tmp_path, mahnob_sessions) -> Path:
    return fakedata.write_mahnob_folder(tmp_path / "mahnob", mahnob_sessions)


@pytest.fixture
def caplog_emolab(caplog):
    """Capture the emolab logger (it does not propagate to the root logger)."""
    log = logging.getLogger("emolab")
    log.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="emolab")
    yield caplog
    log.removeHandler(caplog.handler)
