"""The datasets' on-disk formats: which one a folder holds, its subjects, and a reader per subject.

Every format (DEAP, MAHNOB-HCI) answers the same three questions here, so the store, the
experiments and the chapters never branch on the format themselves.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from emolab.data.record import Record

# ---------------------------------------------------------------------------------------------
# reading the datasets subject by subject


def qualname(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def mahnob_sessions_by_subject(root: str | Path) -> dict[int, list[int]]:
    """Map subject id -> sorted ids of its rated stimulus sessions (``isStim="1"`` with felt
    valence and arousal), read with :func:`emolab.data.mahnob.read_session_xml`."""
    from emolab.data.mahnob import list_mahnob_sessions, read_session_xml

    out: dict[int, list[int]] = {}
    for sid in list_mahnob_sessions(root):
        info = read_session_xml(Path(root) / "Sessions" / str(sid) / "session.xml")
        if info.is_stim and info.ratings is not None:
            out.setdefault(info.subject, []).append(sid)
    return {s: sorted(v) for s, v in sorted(out.items())}


def list_subjects(root: str | Path, dataset: str) -> list[int]:
    """The subjects present in a data folder (DEAP: ``sNN.dat`` files; MAHNOB: rated sessions)."""
    if dataset == "deap":
        from emolab.data.deap import list_deap_subjects

        subjects = list_deap_subjects(root)
    elif dataset == "mahnob":
        subjects = list(mahnob_sessions_by_subject(root))
    else:
        raise ValueError(f"unknown dataset {dataset!r}; use 'deap' or 'mahnob'")
    if not subjects:
        raise FileNotFoundError(
            f"no {dataset} subjects under {root} (expected "
            + ("data_preprocessed_python/sNN.dat" if dataset == "deap" else "Sessions/*/session.xml")
            + "); check the folder or run `emolab data verify`"
        )
    return subjects


def default_reader(dataset: str) -> Callable[[Path, int], Iterable[Record]]:
    """``reader(root, subject) -> records`` for a dataset, over :mod:`emolab.data`'s readers."""
    if dataset == "deap":

        def read_deap_subject(root: Path, subject: int, *, skips: list | None = None) -> Iterable[Record]:
            from emolab.data import read_deap

            return read_deap(root, subjects=[subject], skips=skips, verbose=False)

        read_deap_subject.__qualname__ = "read_deap"
        read_deap_subject.__module__ = "emolab.data"
        return read_deap_subject
    if dataset == "mahnob":

        def read_mahnob_subject(root: Path, subject: int, *, skips: list | None = None) -> Iterable[Record]:
            from emolab.data import read_mahnob

            sessions = mahnob_sessions_by_subject(root).get(subject)
            if not sessions:
                raise ValueError(f"{root}: no rated stimulus session of subject {subject} "
                                 "under Sessions/")  # fmt: skip
            return read_mahnob(root, sessions=sessions, skips=skips, verbose=False)

        read_mahnob_subject.__qualname__ = "read_mahnob"
        read_mahnob_subject.__module__ = "emolab.data"
        return read_mahnob_subject
    raise ValueError(f"unknown dataset {dataset!r}; use 'deap' or 'mahnob'")



def detect_format(data_root: str | os.PathLike) -> str:
    """``"deap"`` or ``"mahnob"`` from a data folder's layout (``data_manifest.yaml``).

    DEAP's folder holds ``data_preprocessed_python/``, MAHNOB-HCI's ``Sessions/``.  Raises
    ``FileNotFoundError`` naming what was looked for when the folder holds neither (or both).
    """
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist; pass the folder holding the DEAP or "
                                "MAHNOB-HCI files, or data_root=None for synthetic data")
    found = [fmt for fmt, sub in (("deap", "data_preprocessed_python"), ("mahnob", "Sessions"))
             if (root / sub).is_dir()]  # fmt: skip
    if len(found) != 1:
        what = "neither" if not found else "both"
        raise FileNotFoundError(f"{root} holds {what} of data_preprocessed_python/ (DEAP) and Sessions/ "
                                "(MAHNOB-HCI); pass the dataset's own folder, or fmt='deap'/'mahnob'")
    return found[0]


def read_first_subjects(root: str | os.PathLike, *, fmt: str = "auto", max_subjects: int = 4,
                        verbose: bool | str | None = False) -> tuple[list[int], list]:
    """The records of the first ``max_subjects`` subjects of a DEAP or MAHNOB-HCI folder.

    Returns ``(subjects, records)``: :func:`~emolab.data.read_deap` of the first subjects for
    DEAP; for MAHNOB-HCI, :func:`~emolab.data.read_mahnob` session by session until a session
    of one subject more appears (chapter 02 reads its figures' trials with it).
    """
    from emolab.data import read_deap, read_mahnob
    from emolab.data.deap import list_deap_subjects

    fmt = detect_format(root) if fmt == "auto" else fmt
    if fmt == "deap":
        subjects = list_deap_subjects(root)[:max_subjects]
        return subjects, list(read_deap(root, subjects=subjects, verbose=verbose))
    if fmt != "mahnob":
        raise ValueError(f"fmt must be 'auto', 'deap' or 'mahnob', got {fmt!r}")
    subjects, records = [], []
    for rec in read_mahnob(root, verbose=verbose):
        if rec.subject not in subjects:
            if len(subjects) == max_subjects:
                break
            subjects.append(rec.subject)
        records.append(rec)
    return subjects, records


