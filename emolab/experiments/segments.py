"""An experiment's segments: the store of a profile's data, built when missing, opened as a dataset."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emolab._logging import logger, use_log_level
from emolab.data.formats import detect_format
from emolab.experiments.profiles import ExperimentProfile, available_cores, get_profile
from emolab.preprocess.face import FaceConfig
from emolab.preprocess.physio import PhysioConfig
from emolab.store.build import build_store
from emolab.store.dataset import face_subjects, open_segments


# ------------------------------------------------------------------------------------ segments
def prepare_segments(
    data_root: str | os.PathLike | None = None,
    *,
    profile: str | ExperimentProfile = "smoke",
    seed: int = 0,
    fmt: str = "auto",
    fps: float = 5.0,
    modalities: Sequence[str] = ("face", "bio"),
    store_root: str | os.PathLike | None = None,
    model: str | None = None,
    verbose: bool | str | None = None,
    **knobs: Any,
):
    """The segments of an experiment as a :class:`~emolab.store.SegmentDataset`.

    ``data_root=None`` uses the synthetic dataset of ``profile.synthetic_preset`` and ``seed``
    (generated on first use); otherwise the folder must hold DEAP or MAHNOB-HCI in its real layout.
    The segment store is built for the profile's subjects when missing (:func:`build_store`,
    keyed by every setting, so chapters with the same settings share one store).

    Parameters
    ----------
    fmt : {"auto", "deap", "mahnob"}
        The on-disk format of ``data_root`` (and of the synthetic data).  ``"auto"`` (default)
        recognises the folder's layout (:func:`detect_format`); synthetic data is then DEAP's.
    fps : float
        Face frames kept per second: 5 = Safavi et al. / DeepVANet (default, and the face
        pipeline's default, so the store is the one the face chapter built); GBV-Net uses 10 on
        DEAP and 12 on MAHNOB-HCI.
    modalities : sequence of {"face", "bio"}
        What the store holds and the dataset serves.
    model : str or None
        Face frames at this model's rate in the profile (``profile.model_fps``, e.g. GBV-Net at
        10 fps on DEAP in the full profile) instead of ``fps``, when the profile names one —
        for a chapter that feeds one model's own segments to it (chapter 07).
    store_root : path or None
        Parent of stores; default :func:`emolab.cache_dir` ``("store")``.
    **knobs
        Synthetic data only: knobs of :class:`~emolab.data.synthetic.SyntheticConfig` changed on
        top of the profile's (``fingerprint=0`` switches the trial fingerprint off, one of the
        trial signatures of :data:`~emolab.experiments.SIGNATURE_SOURCES`).

    Returns
    -------
    SegmentDataset or TrialHeads
        The profile's subjects — only those with face video when ``profile.face_subjects_only``
        (:func:`face_subjects`) — and the requested modalities (only the first
        ``profile.segments_per_trial`` segments of each trial when that is set).
    """
    profile = get_profile(profile)
    if fmt == "auto":
        fmt = "deap" if data_root is None else detect_format(data_root)
    if fmt not in ("deap", "mahnob"):
        raise ValueError(f"fmt must be 'auto', 'deap' or 'mahnob', got {fmt!r}")
    if model is not None:
        fps = profile.model_fps.get(model, {}).get(fmt, fps)
    if profile.face_subjects_only and "face" not in modalities:
        raise ValueError(f"profile {profile.name!r} keeps only the subjects with face video, which a store "
                         "without the face modality cannot tell; add 'face' to modalities or use "
                         "get_profile(..., face_subjects_only=False)")
    if knobs and data_root is not None:
        raise ValueError(f"synthetic knobs {sorted(knobs)} apply only to synthetic data (data_root=None)")
    with use_log_level(verbose):
        if data_root is None:
            from emolab.data.synthetic import ensure_synthetic

            root = ensure_synthetic(fmt=fmt, preset=profile.synthetic_preset, seed=seed, verbose=verbose,
                                    n_jobs=profile.build_workers(), **{**profile.synthetic_knobs, **knobs})  # fmt: skip
        else:
            root = Path(data_root).expanduser()
            if not root.is_dir():
                raise FileNotFoundError(f"data folder {root} does not exist; pass the folder holding "
                                        f"the {fmt.upper()} files, or data_root=None for synthetic data")
        face = FaceConfig(fps=float(fps), size=int(profile.face_size)) if "face" in modalities else None
        store = build_store(root, dataset=fmt, subjects=None if profile.subjects is None else list(profile.subjects),
                            physio=profile.physio_config(),
                            face=face, modalities=tuple(modalities), store_root=store_root,
                            n_jobs=profile.build_workers(), progress=True, verbose=verbose)  # fmt: skip
        subjects = store.subjects if profile.subjects is None else list(profile.subjects)
        dataset = open_segments(str(store.path), subjects=subjects, modalities=tuple(modalities),
                                segments_per_trial=profile.segments_per_trial)
        if profile.face_subjects_only:
            with_face = face_subjects(dataset)
            if not with_face:
                raise ValueError(f"no subject of {root} has a detected face in any segment; check the "
                                 "face videos (emolab data verify) or use face_subjects_only=False")
            if with_face != list(dataset.subjects):
                logger.info("%d of %d subjects have face video; using those (face_subjects_only)",
                            len(with_face), len(dataset.subjects))
                dataset = open_segments(str(store.path), subjects=with_face, modalities=tuple(modalities),
                                        segments_per_trial=profile.segments_per_trial)
        return dataset




def segments_at_fps(dataset, fps: float, *, n_jobs: int | None = None, verbose: bool | str | None = None):
    """The same segments as ``dataset`` with face crops at another frame rate.

    Builds (once; it is cached like every store) the store with ``dataset``'s reader,
    physiological and face settings except ``fps``, beside ``dataset``'s own store, and opens it
    with the same subjects, modalities and ``segments_per_trial``.  Returns ``dataset`` itself
    when its face crops are already at ``fps`` or it has no face modality.  ``n_jobs`` worker
    processes build it, one subject each (``None``: one per CPU core this process may use), as
    every store build.
    """

    cfg = dataset.store.config
    if cfg.get("face") is None or abs(float(cfg["face"]["fps"]) - float(fps)) < 1e-9:
        return dataset
    face = FaceConfig(**{**cfg["face"], "fps": float(fps)})
    store = build_store(cfg["reader"]["root"], dataset=cfg["reader"]["dataset"], subjects=list(dataset.subjects),
                        physio=PhysioConfig(**cfg["physio"]), face=face, modalities=tuple(cfg["modalities"]),
                        store_root=Path(dataset.store.path).parent, progress=True, verbose=verbose,
                        n_jobs=available_cores() if n_jobs is None else int(n_jobs))  # fmt: skip
    return open_segments(str(store.path), subjects=list(dataset.subjects), modalities=tuple(dataset.modalities),
                         segments_per_trial=getattr(dataset, "segments_per_trial", None))  # fmt: skip


