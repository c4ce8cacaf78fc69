"""The embedded default dataset: synthetic DEAP / MAHNOB-HCI files with known ground truth.

DEAP and MAHNOB-HCI are licence-gated, so the book runs on a synthetic dataset written in their
exact on-disk formats (:mod:`emolab.data.synthetic.writers`): physiological signals with effects
a teacher recognises (:mod:`~emolab.data.synthetic.signals`) and a real photographic face warped
into expressions (:mod:`~emolab.data.synthetic.face`). Every knob is a field of
:class:`SyntheticConfig`; chapter 01 (``notebooks/01_data.ipynb``) shows them.

>>> from emolab.data.synthetic import ensure_synthetic, read_ground_truth
>>> root = ensure_synthetic(fmt="deap", preset="smoke", seed=0)          # doctest: +SKIP
>>> read_ground_truth(root).head()                                         # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pandas as pd

from emolab._logging import logger, use_log_level
from emolab.data.synthetic.config import (
    GENERATOR_VERSION,
    PRESETS,
    SyntheticConfig,
    design,
    make_config,
    subject_params,
)
from emolab.data.synthetic.writers import mahnob_session_id, simulate_trial, write_deap, write_mahnob
from emolab.paths import cache_dir

__all__ = [
    "PRESETS",
    "SyntheticConfig",
    "design",
    "ensure_synthetic",
    "generate_synthetic",
    "make_config",
    "read_ground_truth",
    "read_synthetic_config",
    "simulate_trial",
    "subject_params",
]

CONFIG_FILE = "synthetic_config.json"  # written last: its presence marks a complete dataset
GROUND_TRUTH_FILE = "ground_truth.csv"


def ground_truth(cfg: SyntheticConfig, *, fmt: str, seed: int) -> pd.DataFrame:
    """The ground-truth table of a configuration (see :func:`~config.design`), plus the MAHNOB
    ``session_id`` column when ``fmt="mahnob"``."""
    gt = design(cfg, seed=seed)
    if fmt == "mahnob":
        gt.insert(2, "session_id", [mahnob_session_id(cfg, s, t) for s, t in zip(gt.subject, gt.trial)])
    return gt


def generate_synthetic(root, cfg: SyntheticConfig, *, fmt: str = "deap", seed: int = 0, preset: str | None = None,
                       n_jobs: int = 1, verbose=None) -> Path:  # fmt: skip
    """Write a synthetic dataset into the (new or empty) folder ``root``; returns ``root``.

    Prefer :func:`ensure_synthetic`, which caches and writes atomically.
    """
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; pass a new folder (or delete it) to generate into")
    root.mkdir(parents=True, exist_ok=True)
    with use_log_level(verbose):
        start = time.perf_counter()
        gt = ground_truth(cfg, fmt=fmt, seed=seed)
        if fmt == "deap":
            write_deap(root, cfg, gt, seed=seed, n_jobs=n_jobs, verbose=verbose)
        elif fmt == "mahnob":
            write_mahnob(root, cfg, gt, seed=seed, n_jobs=n_jobs, verbose=verbose)
        else:
            raise ValueError(f"unknown format {fmt!r}; use 'deap' or 'mahnob'")
        gt.to_csv(root / GROUND_TRUTH_FILE, index=False)
        meta = {"format": fmt, "preset": preset, "seed": seed, "generator": GENERATOR_VERSION, "config": cfg.to_dict()}
        (root / CONFIG_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        logger.info("generated synthetic %s data in %.1f s", fmt, time.perf_counter() - start)
    return root


def ensure_synthetic(*, fmt: str = "deap", preset: str = "smoke", seed: int = 0, root=None, n_jobs: int = 1,
                     verbose=None, **knobs) -> Path:  # fmt: skip
    """Return a folder holding the synthetic dataset, generating it first when it is missing.

    Parameters
    ----------
    fmt : ``"deap"`` or ``"mahnob"`` — which on-disk format to write.
    preset : ``"smoke"`` (seconds to generate; what the book runs in CI) or ``"deap"`` (the real
        dataset's sizes: 32 subjects x 40 trials x 63 s for DEAP).
    seed : everything random derives from it; the same seed and knobs give identical files.
    root : where to put the data. Default: ``cache_dir("synthetic", "<fmt>-<preset>-seed<seed>-<hash>")``,
        whose name hashes every parameter, so changing a knob never reuses stale files.
    n_jobs : participants generated in parallel processes (the files do not depend on it).
    verbose : log level for this call (``False`` also hides the progress bar).
    **knobs : fields of :class:`SyntheticConfig` to change from the preset (e.g. ``fingerprint=0``).

    The data is written into a temporary sibling folder and renamed into place when complete, so
    an interrupted run never leaves a half-written dataset behind.
    """
    cfg = make_config(fmt=fmt, preset=preset, **knobs)
    if root is None:
        root = cache_dir("synthetic") / f"{fmt}-{preset}-seed{seed}-{cfg.short_hash(fmt=fmt, seed=seed)}"
    root = Path(root).expanduser()
    with use_log_level(verbose):
        if root.exists():
            _check_existing(root, cfg, fmt=fmt, seed=seed)
            logger.info("using synthetic %s data (%s preset, seed %d) in %s", fmt, preset, seed, root)
            return root
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        logger.info("generating synthetic %s data (%s preset, seed %d) into %s", fmt, preset, seed, root)
        try:
            generate_synthetic(tmp, cfg, fmt=fmt, seed=seed, preset=preset, n_jobs=n_jobs, verbose=verbose)
            try:
                os.rename(tmp, root)
            except OSError:
                if not (root / CONFIG_FILE).is_file():  # not another process finishing first
                    raise
                logger.info("another process generated %s first; using it", root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _check_existing(root, cfg, fmt=fmt, seed=seed)
    return root


def _check_existing(root: Path, cfg: SyntheticConfig, *, fmt: str, seed: int) -> None:
    path = root / CONFIG_FILE
    if not path.is_file():
        raise FileExistsError(
            f"{root} exists but holds no complete synthetic dataset ({CONFIG_FILE} missing); "
            "delete the folder or pass another root"
        )
    meta = read_synthetic_config(root)
    if meta["format"] != fmt or meta["seed"] != seed or SyntheticConfig.from_dict(meta["config"]) != cfg:
        raise ValueError(
            f"{root} holds a synthetic dataset with other parameters (see {path}); "
            "delete it or pass another root"
        )
    if meta.get("generator") != GENERATOR_VERSION:
        raise ValueError(
            f"{root} was written by another version of the generator ({meta.get('generator')}, this is "
            f"{GENERATOR_VERSION}); delete it or pass another root"
        )


def read_synthetic_config(root) -> dict:
    """The parameters a synthetic dataset was generated with: format, preset, seed, config."""
    path = Path(root) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {root} is not a synthetic dataset made by emolab")
    return json.loads(path.read_text())


def read_ground_truth(root) -> pd.DataFrame:
    """Per subject x trial ground truth of a synthetic dataset (latent valence/arousal in [-1, 1],
    the ratings written to the files, per-subject traits and the knob values)."""
    path = Path(root) / GROUND_TRUTH_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: only synthetic datasets (emolab.data.synthetic.ensure_synthetic) have ground truth"
        )
    return pd.read_csv(path)
