"""A simple-feature baseline in the shape of the deep models' results table.

:func:`feature_baseline` cross-validates a standardised logistic regression on per-segment
statistics (:func:`~emolab.analysis.signatures.input_features`: log-variance, mean and log band
powers of every physiological channel; colour and a 4 x 4 brightness grid of the face crops) on
exactly the folds the deep cells of a grid use, and returns rows with the columns of
:data:`emolab.train.results.RESULT_COLUMNS`.  Its rows go through the same summaries as the deep
models' (:func:`emolab.experiments.summarize`, :func:`emolab.experiments.paired_gaps`), so a
table can set "what simple statistics reach" beside every deep number, protocol by protocol.

>>> from emolab import analysis as an, experiments as ex                    # doctest: +SKIP
>>> dataset = ex.prepare_segments(None, profile="smoke", seed=1)            # doctest: +SKIP
>>> rows = an.feature_baseline(dataset)                                     # doctest: +SKIP
>>> ex.summarize(rows)                                                      # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emolab._logging import logger
from emolab.analysis.leaks import _fit_predict
from emolab.analysis.signatures import input_features
from emolab.store.dataset import face_subjects
from emolab.train.config import TASK_INDEX
from emolab.train.metrics import binary_metrics
from emolab.train.protocols import PROTOCOLS, get_protocol, make_folds, make_labels, validation_split
from emolab.train.results import RESULT_COLUMNS

__all__ = ["BASELINE_C", "BASELINE_MODELS", "FEATURES", "FUSIONS", "feature_baseline", "with_halves"]

#: Inverse regularisation strength of the logistic regression (scikit-learn's ``C``; nothing is chosen).
BASELINE_C = 1.0
#: Iterations of the liblinear solver, and its seed.
_MAX_ITER = 1000
_RANDOM_STATE = 0

#: Fusions of the face and physiological features: ``"concat"`` (one regression on both
#: modalities' features side by side) and ``"late"`` (the mean of the two modalities' regressions'
#: probabilities).
FUSIONS = ("concat", "late")

#: The ``model`` column of the baseline's rows: unimodal, then per fusion.
BASELINE_MODELS = {None: "features", "concat": "features (concat)", "late": "features (late)"}

#: What each modality's features are (the ``features`` entry of the rows' ``config``).
FEATURES = {
    "bio": "per channel: log-variance, mean, log band powers (segment_statistics, kind='physio')",
    "face": "RGB means and standard deviations, 4 x 4 grid of mean grey levels (segment_statistics, kind='face')",
}

_MODALITY_ORDER = ("face", "bio")


def _check_modalities(modalities) -> list[tuple[str, ...]]:
    """Each modality set as a tuple in the book's order (``("face", "bio")``), checked."""
    if isinstance(modalities, str) or not isinstance(modalities, Sequence) or not len(modalities):
        raise ValueError("modalities must be a non-empty sequence of modality tuples, e.g. "
                         f"(('bio',), ('face', 'bio')), got {modalities!r}")  # fmt: skip
    out = []
    for mods in modalities:
        if isinstance(mods, str):
            raise ValueError(f"each modality set must be a tuple of modality names, got the string {mods!r}; "
                             f"write ({mods!r},)")  # fmt: skip
        mods = tuple(mods)
        unknown = [m for m in mods if m not in _MODALITY_ORDER]
        if unknown or not mods or len(set(mods)) != len(mods):
            raise ValueError(f"unknown modality set {mods!r}: name 'bio' and/or 'face', each once, e.g. ('bio',), "
                             "('face',) or ('face', 'bio')")  # fmt: skip
        canonical = tuple(m for m in _MODALITY_ORDER if m in mods)
        if canonical in out:
            raise ValueError(f"the modality set {canonical!r} is asked for twice")
        out.append(canonical)
    return out


def _check_arguments(dataset, modalities, tasks, protocols, n_splits, fusion):
    mods = _check_modalities(modalities)
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    bad = [t for t in tasks if t not in TASK_INDEX]
    if bad or not tasks:
        raise ValueError(f"unknown tasks {bad or tasks!r}; choose among {sorted(TASK_INDEX)}")
    protocols = [protocols] if isinstance(protocols, str) else list(protocols)
    if "paper" in protocols:
        raise ValueError("'paper' stands for a model's own paper protocol and the feature baseline has no paper; "
                         "resolve it first, e.g. ex.resolve_protocols('safavi', protocols), or name the protocols "
                         f"({sorted(PROTOCOLS)})")  # fmt: skip
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad or not protocols:
        raise ValueError(f"unknown protocols {bad or protocols!r}; choose among {sorted(PROTOCOLS)}")
    if int(n_splits) != n_splits or n_splits < 2:
        raise ValueError(f"n_splits must be a whole number >= 2, got {n_splits!r}")
    fusion = [fusion] if isinstance(fusion, str) else list(fusion)
    bad = [f for f in fusion if f not in FUSIONS]
    if bad:
        raise ValueError(f"unknown fusion {bad!r}; choose among {FUSIONS}")
    if any(len(m) > 1 for m in mods) and not fusion:
        raise ValueError(f"fusion is empty but modalities holds ('face', 'bio'); pass fusion={FUSIONS} (or a part) "
                         "or leave the fused set out of modalities")  # fmt: skip
    served = tuple(getattr(dataset, "modalities", ()))
    for m in ("bio", "face"):
        if any(m in s for s in mods) and m not in served:
            raise ValueError(f"modalities asks for {m!r} but the dataset serves {served}; open it with that "
                             "modality (prepare_segments(..., modalities=('face', 'bio'))) or leave the sets "
                             f"with {m!r} out")  # fmt: skip
    if any("face" in s for s in mods) and not face_subjects(dataset):
        raise ValueError("modalities asks for 'face' but no segment of the dataset has a detected face; leave the sets "
                         "with 'face' out of modalities")  # fmt: skip
    return mods, tasks, protocols, int(n_splits), fusion


def _features(dataset, modality: str, positions: np.ndarray, n_rows: int) -> np.ndarray:
    """(n_rows, F) float64 features of one modality at ``positions`` (NaN elsewhere), read one
    subject at a time so that only one subject's segments are in memory."""
    subjects = dataset.metadata["subject"].to_numpy()[positions]
    out = None
    for s in pd.unique(subjects):
        rows = positions[subjects == s]
        X, _ = input_features(dataset, modalities=(modality,), rows=rows)
        if out is None:
            out = np.full((n_rows, X.shape[1]), np.nan)
        out[rows] = X
    return out


def _store_name(dataset) -> str | None:
    store = getattr(dataset, "store", None)
    path = getattr(store, "path", None)
    return None if path is None else str(path)


def _cell(model: str, mods: tuple[str, ...], task: str, protocol: str, subject: int, fold: int,
          common: dict) -> tuple[str, str]:  # fmt: skip
    """``(cell_id, config JSON)`` of one fold of one model, as the deep cells name theirs."""
    config = {**common, "model": model, "modalities": list(mods), "task": task, "protocol": protocol,
              "subject": int(subject), "fold": int(fold), "features": {m: FEATURES[m] for m in mods},
              "fusion": next((k for k, v in BASELINE_MODELS.items() if v == model), None)}  # fmt: skip
    blob = json.dumps(config, sort_keys=True)
    key = hashlib.sha1(blob.encode()).hexdigest()[:16]
    return f"{model}|{'+'.join(mods)}|{task}|{protocol}|s{subject}|f{fold}|{key}", blob


def feature_baseline(
    dataset,
    *,
    modalities: Sequence[Sequence[str]] = (("bio",), ("face",), ("face", "bio")),
    tasks: Sequence[str] = ("valence", "arousal"),
    protocols: Sequence[str] = ("paper-segment-kfold", "trial-kfold"),
    n_splits: int = 3,
    seed: int = 0,
    fusion: Sequence[str] = FUSIONS,
    val_fraction: float = 0.0,
    progress: bool = False,
    predictions: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Simple features and a logistic regression, on the deep cells' folds, as results rows.

    Every segment is described by :func:`~emolab.analysis.signatures.input_features` of each
    modality, computed once per dataset (one subject in memory at a time) and reused by every
    task, protocol and modality set.  Each fold standardises the features with its training
    rows' means and standard deviations and fits scikit-learn's ``LogisticRegression``
    (liblinear, L2, ``C = 1``, nothing chosen; ``random_state=0``); a test segment's score is its
    predicted probability of the high class, scored by :func:`emolab.train.metrics.binary_metrics`
    exactly as the deep rows are.

    The folds are the deep cells' (:func:`emolab.train.sweep.make_cells` as
    :func:`emolab.experiments.grid_cells` calls it): per task, the labels of
    :func:`~emolab.train.protocols.make_labels` (rating >= 5) and
    :func:`~emolab.train.protocols.make_folds` with ``n_splits`` and ``seed`` on the metadata of
    the set's subjects — every subject of the dataset, or for a set with the face only those
    with a detected face (:func:`emolab.experiments.face_subjects`).  As in
    :func:`emolab.train.sweep.run_fold`, the face-only model leaves the segments without a face out
    of training and test, and the fused models keep them with an all-zero face (the face
    statistics of a black crop).  Unlike the deep models, the baseline carves **no validation
    split**: it has nothing to stop early or choose, and fits on the whole training fold
    (``n_val`` is 0, ``n_train`` the whole fold).

    Parameters
    ----------
    dataset : SegmentDataset or TrialHeads
        From :func:`emolab.experiments.prepare_segments`: ``.metadata`` (one row per segment with
        ``subject``, ``trial``, ``valence``, ``arousal``, ``has_face``), ``.arrays(rows)``,
        ``.subjects``, ``.modalities`` and ``.store.config`` (the physiological sampling rate,
        ``config["physio"]["sfreq"]`` in Hz, for the band powers).
    modalities : sequence of tuples
        Modality sets among ``("bio",)``, ``("face",)`` and ``("face", "bio")`` (in any order
        within a set).
    tasks : sequence of {"valence", "arousal"}
    protocols : sequence of str
        Protocols of :data:`emolab.train.protocols.PROTOCOLS` (``"paper"`` is not one: resolve it
        for a model with :func:`emolab.experiments.resolve_protocols` first).
    n_splits, seed : int
        k of the k-fold protocols and their seed (the grid's ``seed``, the cells' ``split_seed``).
    fusion : sequence of {"concat", "late"}
        How the fused set ``("face", "bio")`` combines the modalities: ``"concat"`` fits one
        regression on the face and physiological features side by side; ``"late"`` averages the
        probabilities of a face regression and a physiological regression, each fitted on the
        fused set's training rows.
    val_fraction : float
        Leave out the validation split the deep cells carve from each training fold (pass the
        profile's ``val_fraction``): the same rows :func:`~emolab.train.sweep.run_fold` holds
        out (grouped as the protocol's test fold, stratified, seeded with ``seed``) are left
        unused here too, so that the baseline fits on exactly the deep model's fit rows.  0 (the
        default) fits on the whole training fold.
    progress : bool
        Show a progress bar over the folds.
    predictions : bool
        Also return the score of every test segment.

    Returns
    -------
    DataFrame
        One row per model × modality set × task × protocol × fold × test subject, in
        :data:`~emolab.train.results.RESULT_COLUMNS` order: a ``pooled-segment-kfold`` fold gives
        one row per subject in its test fold, each scored on that subject's test segments only
        (as :func:`emolab.train.sweep.run_cell` does).  ``model`` is ``"features"`` for a single
        modality, ``"features (concat)"`` / ``"features (late)"`` for ``"face+bio"``;
        ``modalities`` ``"bio"``, ``"face"`` or ``"face+bio"``; ``subject`` the test subject;
        ``accuracy``, ``balanced_accuracy``, ``f1``, ``roc_auc``, ``majority_baseline`` (in
        [0, 1]); ``n_train`` (segments fitted on), ``n_val`` (0), ``n_test`` and ``n_pos`` (the
        subject's test segments and its high ones); ``best_epoch`` and ``epochs_run`` NaN;
        ``train_seconds`` (fitting and scoring the fold, s); ``device`` ``"cpu"``; ``cell_id``
        (``model|modalities|task|protocol|s<fold subject>|f<fold>|<hash>``, shared by the rows of
        one pooled fold, as a deep cell's) and ``config`` (JSON: the baseline, its features,
        ``C``, the fold and the data).  A fold whose test set holds no segment with a face gives
        no face-only row (the deep cell fails there), with a logged warning.
    DataFrame, with ``predictions=True``
        The first frame, and one row per test segment and model: ``cell_id``, ``model``,
        ``modalities``, ``task``, ``protocol``, ``fold``, ``subject``, ``trial``, ``segment``,
        ``position`` (row of ``dataset.metadata``), ``y_true``, ``y_score`` (probability of the
        high class), and for ``"features (late)"`` the two probabilities it averages,
        ``y_score_face`` and ``y_score_bio`` (NaN for the other models).

    Raises
    ------
    ValueError
        Naming the fix: an unknown modality set, task, protocol (``"paper"`` included) or fusion,
        ``n_splits < 2``, an empty ``fusion`` with the fused set, or a modality the dataset does
        not serve (or the face where no segment has one).
    """
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    mods_list, tasks, protocols, n_splits, fusion = _check_arguments(dataset, modalities, tasks, protocols,
                                                                     n_splits, fusion)  # fmt: skip
    t_start = time.perf_counter()
    meta = dataset.metadata.reset_index(drop=True)
    n = len(meta)
    subject_col = meta["subject"].to_numpy().astype(np.int64)
    has_face = meta["has_face"].to_numpy(bool)
    all_subjects = [int(s) for s in dataset.subjects]
    with_face = face_subjects(dataset) if any("face" in m for m in mods_list) else []

    # each modality's features once, for the subjects any set needs them for
    feats: dict[str, np.ndarray] = {}
    for m in _MODALITY_ORDER:
        sets = [s for s in mods_list if m in s]
        if not sets:
            continue
        wanted = all_subjects if any("face" not in s for s in sets) else with_face
        feats[m] = _features(dataset, m, np.flatnonzero(np.isin(subject_col, wanted)), n)
    logger.debug("feature baseline: features %s in %.1f s", {m: f.shape[1] for m, f in feats.items()},
                 time.perf_counter() - t_start)  # fmt: skip

    common = {"baseline": "feature_baseline", "classifier": "StandardScaler (training fold) + LogisticRegression",
              "solver": "liblinear", "C": BASELINE_C, "max_iter": _MAX_ITER, "random_state": _RANDOM_STATE,
              "validation": (f"the deep cells' validation split ({val_fraction:g}) left unused" if val_fraction
                             else "none: fitted on the whole training fold"), "n_splits": n_splits, "split_seed": int(seed),
              "label_method": "threshold", "label_threshold": 5.0,
              "data": {"store": _store_name(dataset),
                       "segments_per_trial": getattr(dataset, "segments_per_trial", None)}}  # fmt: skip

    # folds: one make_folds call per task, protocol and subject set, as make_cells makes them
    plan = []
    fold_cache: dict[tuple, tuple] = {}
    sub_metas: dict[tuple, pd.DataFrame] = {}
    for task in tasks:
        for protocol in protocols:
            for mods in mods_list:
                subjects = with_face if "face" in mods else all_subjects
                key = (task, protocol, tuple(subjects))
                if key not in fold_cache:
                    pos = np.flatnonzero(np.isin(subject_col, subjects))
                    sub_meta = meta.iloc[pos].reset_index(drop=True)
                    y = make_labels(sub_meta, task=task)
                    folds = make_folds(sub_meta, protocol, task=task, n_splits=n_splits, seed=seed, labels=y)
                    fold_cache[key] = (pos, y, folds)
                    sub_metas[key] = sub_meta
                pos, y, folds = fold_cache[key]
                for f in folds:
                    plan.append((task, protocol, mods, subjects, pos, y, f))

    fit = dict(C=BASELINE_C, proba=True, max_iter=_MAX_ITER, random_state=_RANDOM_STATE)
    trial_col = meta["trial"].to_numpy()
    segment_col = meta["segment"].to_numpy() if "segment" in meta.columns else np.full(n, -1)
    rows, preds, n_fits, not_converged, skipped = [], [], 0, 0, 0
    bar = tqdm(plan, desc="feature baseline", disable=not progress, mininterval=1.0)
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("always", ConvergenceWarning)
        for task, protocol, mods, subjects, pos, y, f in bar:
            proto = get_protocol(protocol)
            tr_local, te_local = np.asarray(f.train_idx), np.asarray(f.test_idx)
            if mods == ("face",):  # as run_fold: the face-only model sees segments with a face only
                tr_local, te_local = tr_local[has_face[pos[tr_local]]], te_local[has_face[pos[te_local]]]
            n_val = 0
            if val_fraction > 0:  # as run_fold: the validation split comes out of the training fold
                grouping = proto.disjoint or "segment"
                tr_local, val_local = validation_split(sub_metas[(task, protocol, tuple(subjects))], tr_local,
                                                       grouping=grouping, val_fraction=val_fraction, labels=y,
                                                       seed=seed)  # fmt: skip
                n_val = len(val_local)
            train, test = pos[tr_local], pos[te_local]
            y_train, y_test = y[tr_local], y[te_local]
            if mods == ("face",):
                if not len(test):
                    logger.warning("feature baseline: %s fold %d of subject %d (%s) has no test segment with a face; "
                                   "no face-only row", protocol, f.fold, f.subject, task)  # fmt: skip
                    skipped += 1
                    continue
            models = [None] if len(mods) == 1 else fusion
            for how in models:
                model = BASELINE_MODELS[how]
                t0 = time.perf_counter()
                parts = {}
                if how == "late":
                    for m in mods:
                        parts[m] = _fit_predict(feats[m][train], y_train, feats[m][test], **fit)
                        n_fits += 1
                    score = np.mean([parts[m] for m in mods], axis=0)
                else:
                    X = np.concatenate([feats[m] for m in mods], axis=1) if len(mods) > 1 else feats[mods[0]]
                    score = _fit_predict(X[train], y_train, X[test], **fit)
                    n_fits += 1
                seconds = time.perf_counter() - t0
                cell_id, config = _cell(model, mods, task, protocol, f.subject, f.fold,
                                        {**common, "data": {**common["data"], "subjects": list(subjects)}})  # fmt: skip
                test_subjects = subject_col[test]
                for s in np.unique(test_subjects):
                    mine = test_subjects == s
                    met = binary_metrics(y_test[mine], score[mine])
                    rows.append({
                        "cell_id": cell_id, "model": model, "modalities": "+".join(mods), "task": task,
                        "protocol": protocol, "leaky": proto.leaky, "disjoint": proto.disjoint or "none",
                        "subject": int(s), "fold": int(f.fold),
                        **{k: met[k] for k in ("accuracy", "balanced_accuracy", "f1", "roc_auc", "majority_baseline")},
                        "n_train": len(train), "n_val": n_val, "n_test": met["n"], "n_pos": met["n_pos"],
                        "best_epoch": np.nan, "epochs_run": np.nan, "train_seconds": round(seconds, 3),
                        "device": "cpu", "config": config,
                    })  # fmt: skip
                if predictions:
                    preds.append(pd.DataFrame({
                        "cell_id": cell_id, "model": model, "modalities": "+".join(mods), "task": task,
                        "protocol": protocol, "fold": int(f.fold), "subject": test_subjects,
                        "trial": trial_col[test], "segment": segment_col[test], "position": test,
                        "y_true": y_test, "y_score": score,
                        "y_score_face": parts.get("face", np.full(len(test), np.nan)),
                        "y_score_bio": parts.get("bio", np.full(len(test), np.nan)),
                    }))  # fmt: skip
        for w in caught:  # counted once below; any other warning is passed on
            if issubclass(w.category, ConvergenceWarning):
                not_converged += 1
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    bar.close()
    if not_converged:
        logger.warning("feature baseline: the logistic regression did not converge in %d iterations in %d of %d "
                       "fits", _MAX_ITER, not_converged, n_fits)  # fmt: skip
    out = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    logger.info("feature baseline: %d rows from %d folds (%d fits%s) in %.1f s", len(out), len(plan) - skipped,
                n_fits, f", {skipped} face-only folds without a face left out" if skipped else "",
                time.perf_counter() - t_start)  # fmt: skip
    if predictions:
        columns = ["cell_id", "model", "modalities", "task", "protocol", "fold", "subject", "trial", "segment",
                   "position", "y_true", "y_score", "y_score_face", "y_score_bio"]  # fmt: skip
        return out, (pd.concat(preds, ignore_index=True) if preds else pd.DataFrame(columns=columns))
    return out


def with_halves(rows: pd.DataFrame) -> pd.DataFrame:
    """The baseline's rows arranged for :func:`~emolab.experiments.fusion_gains`: each fusion
    (``"features (concat)"``, ``"features (late)"``) as a model of its own, with copies of the
    unimodal ``"features"`` rows as its halves.  Unimodal rows alone are returned unchanged."""
    uni = rows[rows["model"] == BASELINE_MODELS[None]]
    fused = [m for m in rows["model"].unique() if m != BASELINE_MODELS[None]]
    if not fused:
        return rows.copy()
    return pd.concat([pd.concat([uni.assign(model=m), rows[rows["model"] == m]]) for m in fused],
                     ignore_index=True)  # fmt: skip
