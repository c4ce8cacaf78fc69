"""Write the synthetic dataset in the exact on-disk formats of DEAP and MAHNOB-HCI.

DEAP (:cite:`koelstra2012deap`)::

    data_preprocessed_python/sNN.dat        Python-2 (protocol 2) pickle, rows in Experiment_id order
    metadata_csv/participant_ratings.csv    Participant_id, Trial (presentation order), Experiment_id, …
    face_video/sNN/sNN_trialTT.avi          TT = presentation order (participants 1..face_subjects)

MAHNOB-HCI (:cite:`soleymani2012mahnob`)::

    Sessions/<id>/session.xml
    Sessions/<id>/Part_<subject>_S_Trial<k>_emotion.bdf     47 channels at 256 Hz incl. Status
    Sessions/<id>/P<subject>-Rec1-<date>_C1 trigger _C_Section_<cutNr>.avi
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emolab._logging import logger
from emolab.data.channels import (
    DEAP_SFREQ,
    EEG_CH_NAMES,
    MAHNOB_CH_NAMES,
    MAHNOB_CH_TYPES,
    MAHNOB_SFREQ,
    MAHNOB_STIM_CHANNEL,
)
from emolab.data.synthetic.config import STREAM_PHYSIO, SyntheticConfig, rng_for, subject_params
from emolab.data.synthetic.face import FaceRenderer, write_avi
from emolab.data.synthetic.signals import PhysioSim, simulate_physio, trial_fingerprint

# Participants whose Familiarity column is empty in the real participant_ratings.csv.
NO_FAMILIARITY = (2, 15, 23)


def simulate_trial(cfg: SyntheticConfig, row, *, seed: int, sfreq: float, post: bool = False) -> PhysioSim:
    """Signals of one ground-truth row (subject x experiment) at ``sfreq``."""
    sp = subject_params(cfg, seed=seed, subject=int(row.subject))
    return simulate_physio(
        cfg, sp, valence=float(row.valence), arousal=float(row.arousal),
        experiment_id=int(row.experiment_id), seed=seed, sfreq=sfreq,
        n_pre=int(round(cfg.baseline_s * sfreq)), n_stim=int(round(cfg.trial_s * sfreq)),
        n_post=int(round(cfg.post_s * sfreq)) if post else 0,
    )  # fmt: skip


class _Python2Pickler(pickle._Pickler):
    """Pickles ``bytes`` the way Python 2 pickled ``str``: as raw BINSTRING opcodes.

    Python 3 at protocol 2 would wrap bytes in a ``_codecs.encode`` call (a global the real files
    never contain, and 1.5x larger); Python 2's ``cPickle`` wrote them raw, and
    ``pickle.load(f, encoding="latin1")`` turns them into ``str`` that NumPy accepts.
    """

    def save_bytes(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch = pickle._Pickler.dispatch.copy()
    dispatch[bytes] = save_bytes


def dumps_deap_pickle(obj: dict) -> bytes:
    """A DEAP-style ``.dat``: a Python-2-compatible protocol-2 pickle of ``{"data", "labels"}``.

    Keys and array buffers are Python-2 ``str`` (BINSTRING) and the array globals name
    ``numpy.core.multiarray._reconstruct`` as NumPy 1 did (NumPy 2 names ``numpy._core``; protocol 2
    spells globals as text, ``c<module>\\n<name>\\n``, so the name is swapped in place).
    Loads with ``pickle.load(f, encoding="latin1")``.
    """
    buf = io.BytesIO()
    _Python2Pickler(buf, protocol=2).dump({k.encode("ascii"): v for k, v in obj.items()})
    blob = buf.getvalue()
    return blob.replace(b"cnumpy._core.multiarray\n_reconstruct\n", b"cnumpy.core.multiarray\n_reconstruct\n")


def _render_video(cfg, renderer, row, sim: PhysioSim, *, seed: int, start_s: float, n_frames: int, path: Path) -> None:
    times = start_s + np.arange(n_frames) / cfg.video_fps
    fp = trial_fingerprint(cfg, seed=seed, subject=int(row.subject), experiment_id=int(row.experiment_id))
    frames = renderer.render(
        times_s=times, valence=float(row.valence), arousal=float(row.arousal),
        onset_s=cfg.baseline_s, offset_s=cfg.baseline_s + cfg.trial_s, blinks=sim.blinks,
        fingerprint=fp, experiment_id=int(row.experiment_id), seed=seed,
    )  # fmt: skip
    write_avi(path, frames, fps=cfg.video_fps)


def _for_each_subject(fn, gt: pd.DataFrame, *, n_jobs: int, desc: str, verbose) -> list:
    """Run ``fn(subject, rows)`` for every subject, in ``n_jobs`` processes; results in subject order.

    Every subject's data depends only on (seed, subject, trial), so the files are the same
    whatever ``n_jobs`` is.  The workers come from :func:`emolab.workers.process_pool` (fresh
    processes that do not re-run the caller's main module).
    """
    groups = [(int(s), g) for s, g in gt.groupby("subject")]
    disable = verbose is False
    if n_jobs <= 1 or len(groups) == 1:
        return [fn(s, g) for s, g in tqdm(groups, desc=desc, disable=disable)]
    from emolab.workers import process_pool

    with process_pool(min(n_jobs, len(groups)), what="synthetic participants") as pool:
        futures = [pool.submit(fn, s, g) for s, g in groups]
        return [f.result() for f in tqdm(futures, desc=desc, disable=disable)]


def _write_deap_subject(subject: int, sub: pd.DataFrame, *, root: Path, cfg: SyntheticConfig, seed: int) -> list[dict]:
    """Write one participant's ``.dat`` and face videos; return its participant_ratings rows."""
    sub = sub.sort_values("experiment_id")
    n_frames = int(round(cfg.trial_s * cfg.video_fps))
    renderer = None
    data, labels = [], []
    for row in sub.itertuples():
        sim = simulate_trial(cfg, row, seed=seed, sfreq=DEAP_SFREQ)
        data.append(sim.deap_array())  # (40, n_samples)
        labels.append([row.rating_valence, row.rating_arousal, row.rating_dominance, row.rating_liking])
        if row.has_video:
            renderer = renderer or FaceRenderer(cfg, subject_params(cfg, seed=seed, subject=subject))
            path = root / "face_video" / f"s{subject:02d}" / f"s{subject:02d}_trial{row.trial:02d}.avi"
            _render_video(cfg, renderer, row, sim, seed=seed, start_s=cfg.baseline_s, n_frames=n_frames, path=path)
    obj = {"data": np.stack(data), "labels": np.asarray(labels, dtype=np.float64)}  # (n_trials, 40, n)
    (root / "data_preprocessed_python" / f"s{subject:02d}.dat").write_bytes(dumps_deap_pickle(obj))
    return [
        {
            "Participant_id": subject, "Trial": row.trial, "Experiment_id": row.experiment_id,
            # start of each trial in µs from the start of the session (trial + pause)
            "Start_time": int((row.trial - 1) * (cfg.trial_s + cfg.baseline_s + 15.0) * 1e6 + 2_000_000),
            "Valence": row.rating_valence, "Arousal": row.rating_arousal,
            "Dominance": row.rating_dominance, "Liking": row.rating_liking,
            "Familiarity": np.nan if subject in NO_FAMILIARITY else row.rating_familiarity,
        }
        for row in sub.sort_values("trial").itertuples()
    ]  # fmt: skip


def write_deap(root: Path, cfg: SyntheticConfig, gt: pd.DataFrame, *, seed: int, n_jobs: int = 1,
               verbose=None) -> None:  # fmt: skip
    """Write the DEAP layout for the ground-truth table ``gt`` (see :func:`design`) under ``root``."""
    from functools import partial

    (root / "data_preprocessed_python").mkdir(parents=True, exist_ok=True)
    (root / "metadata_csv").mkdir(parents=True, exist_ok=True)
    fn = partial(_write_deap_subject, root=root, cfg=cfg, seed=seed)
    per_subject = _for_each_subject(fn, gt, n_jobs=n_jobs, desc="synthetic DEAP", verbose=verbose)
    ratings = pd.DataFrame([r for rows in per_subject for r in rows]).sort_values(["Participant_id", "Trial"])
    ratings["Familiarity"] = ratings["Familiarity"].astype("Int64")  # integers, empty where missing
    ratings.to_csv(root / "metadata_csv" / "participant_ratings.csv", index=False)
    logger.debug("wrote %d DEAP trials under %s", len(gt), root)


# ------------------------------------------------------------------------------------------------
# MAHNOB-HCI

# felt emotion codes of MAHNOB-HCI's session.xml for each quadrant (valence sign, arousal sign)
_FELT_EMO = {(1, 1): 11, (1, -1): 4, (-1, -1): 5, (-1, 1): 3}  # amusement, joy, sadness, fear


def mahnob_session_id(cfg: SyntheticConfig, subject: int, trial: int) -> int:
    """Session folder number (even numbers, as the real ids step by 2)."""
    return 2 * ((subject - 1) * cfg.n_trials + trial)


def _mahnob_matrix(sim: PhysioSim, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """MAHNOB channel name -> signal (µV for EEG/ExG, µS for GSR, a.u. for Resp, °C for Temp)."""
    n = sim.eeg.shape[1]
    out = {name: sim.eeg[i] for i, name in enumerate(EEG_CH_NAMES)}
    out.update({"EXG1": sim.ecg[0], "EXG2": sim.ecg[1], "EXG3": sim.ecg[2]})
    out.update({"EXG4": sim.heog, "EXG5": sim.veog, "EXG6": sim.zemg, "EXG7": sim.temg})
    out["EXG8"] = rng.normal(0, 5.0, n)  # unconnected lead in our files
    out.update({"GSR1": sim.gsr, "GSR2": sim.gsr * 0.98 + 0.05})
    out.update({"Erg1": rng.normal(0, 1.0, n), "Erg2": rng.normal(0, 1.0, n)})
    out.update({"Resp": sim.resp, "Temp": sim.temp})
    return out


def write_bdf(path: Path, signals: dict[str, np.ndarray], status: np.ndarray, *, sfreq: float) -> None:
    """Write a BioSemi-style BDF: the MAHNOB channels plus a ``Status`` trigger channel."""
    import datetime

    import pyedflib

    names = list(MAHNOB_CH_NAMES) + [MAHNOB_STIM_CHANNEL]
    units = {"eeg": "uV", "ecg": "uV", "misc": "uV", "gsr": "uS", "resp": "a.u.", "temperature": "degC"}
    headers, data = [], []
    for name, kind in zip(MAHNOB_CH_NAMES, MAHNOB_CH_TYPES):
        x = np.asarray(signals[name], np.float64)
        if kind in ("eeg", "ecg", "misc"):
            pmin, pmax = -262144, 262143  # BioSemi's ±262 mV range (1/32 µV resolution)
        else:
            pmin, pmax = int(np.floor(x.min())) - 100, int(np.ceil(x.max())) + 100  # header fields hold 8 chars
        headers.append(
            dict(label=name, dimension=units[kind], sample_frequency=sfreq, physical_min=pmin,
                 physical_max=pmax, digital_min=-8388608, digital_max=8388607, transducer="", prefilter="")
        )  # fmt: skip
        data.append(x)
    headers.append(
        dict(label=MAHNOB_STIM_CHANNEL, dimension="Boolean", sample_frequency=sfreq, physical_min=-8388608,
             physical_max=8388607, digital_min=-8388608, digital_max=8388607, transducer="Triggers and Status",
             prefilter="No filtering")
    )  # fmt: skip
    data.append(status.astype(np.float64))
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = pyedflib.EdfWriter(str(path), len(names), file_type=pyedflib.FILETYPE_BDF)
    try:
        writer.setSignalHeaders(headers)
        writer.setStartdatetime(datetime.datetime(2009, 7, 9, 12, 0, 0))
        writer.setEquipment("BioSemi_ActiveTwo_synthetic")
        writer.writeSamples(data)
    finally:
        writer.close()


def write_mahnob(root: Path, cfg: SyntheticConfig, gt: pd.DataFrame, *, seed: int, n_jobs: int = 1,
                 verbose=None) -> None:  # fmt: skip
    """Write the MAHNOB-HCI layout (emotion sessions only) for the ground-truth table ``gt``."""
    from functools import partial

    sfreq = MAHNOB_SFREQ
    if any(abs(x * sfreq - round(x * sfreq)) > 1e-9 for x in (cfg.baseline_s, cfg.trial_s, cfg.post_s)):
        raise ValueError("baseline_s, trial_s and post_s must be whole numbers of samples at 256 Hz")
    fn = partial(_write_mahnob_subject, root=root, cfg=cfg, seed=seed)
    _for_each_subject(fn, gt, n_jobs=n_jobs, desc="synthetic MAHNOB", verbose=verbose)
    logger.debug("wrote %d MAHNOB sessions under %s", len(gt), root)


def _write_mahnob_subject(subject: int, sub: pd.DataFrame, *, root: Path, cfg: SyntheticConfig, seed: int) -> None:
    """Write one participant's session folders (BDF, session.xml, video)."""
    from xml.sax.saxutils import quoteattr

    sfreq = MAHNOB_SFREQ
    total_s = cfg.baseline_s + cfg.trial_s + cfg.post_s
    n_frames = int(round(total_s * cfg.video_fps))
    renderer = None
    for row in sub.sort_values("trial").itertuples():
        sid = mahnob_session_id(cfg, int(subject), int(row.trial))
        folder = root / "Sessions" / str(sid)
        sim = simulate_trial(cfg, row, seed=seed, sfreq=sfreq, post=True)
        n = sim.eeg.shape[1]
        status = np.zeros(n)
        onset, offset = sim.onset_sample, sim.onset_sample + int(round(cfg.trial_s * sfreq))
        pulse = int(0.05 * sfreq)
        status[onset : onset + pulse] = 1  # stimulus onset trigger
        status[offset : offset + pulse] = 2  # stimulus offset trigger
        bdf = f"Part_{subject}_S_Trial{row.trial}_emotion.bdf"
        extra_rng = rng_for(seed, STREAM_PHYSIO, int(subject), int(row.experiment_id), 1)  # unused leads
        write_bdf(folder / bdf, _mahnob_matrix(sim, extra_rng), status, sfreq=sfreq)
        video = f"P{subject}-Rec1-2009.07.{9 + subject % 20:02d}.{10 + row.trial % 12:02d}.00.00_C1 trigger _C_Section_{sid}.avi"
        if row.has_video:
            renderer = renderer or FaceRenderer(cfg, subject_params(cfg, seed=seed, subject=int(subject)))
            _render_video(cfg, renderer, row, sim, seed=seed, start_s=0.0, n_frames=n_frames, path=folder / video)
        quadrant = (1 if row.valence >= 0 else -1, 1 if row.arousal >= 0 else -1)
        attrs = {
            "cutNr": row.experiment_id, "cutLenSec": f"{cfg.trial_s:g}", "isStim": 1,
            "sessionId": sid, "experimentType": "emotion elicitation",
            "feltEmo": _FELT_EMO[quadrant], "feltArsl": int(round(row.rating_arousal)),
            "feltVlnc": int(round(row.rating_valence)), "feltCtrl": int(round(row.rating_dominance)),
            "feltPred": int(round(row.rating_liking)), "mediaFile": f"{row.experiment_id}.avi",
            "vidRate": f"{cfg.video_fps:g}",
            # stimulus begin / end as video frame numbers of the session video
            "vidBeginSmp": int(round(cfg.baseline_s * cfg.video_fps)),
            "vidEndSmp": int(round((cfg.baseline_s + cfg.trial_s) * cfg.video_fps)),
        }  # fmt: skip
        attr_text = " ".join(f"{k}={quoteattr(str(v))}" for k, v in attrs.items())
        tracks = [f'  <track type="Physiological" id="1" filename={quoteattr(bdf)}/>']
        if row.has_video:
            tracks.append(f'  <track type="Video" id="2" color="1" filename={quoteattr(video)}/>')
        xml = "\n".join(
            ['<?xml version="1.0" encoding="UTF-8" standalone="no" ?>', f"<session {attr_text}>",
             f'  <subject id="{subject}"/>', *tracks, "</session>", ""]
        )  # fmt: skip
        (folder / "session.xml").write_text(xml, encoding="utf-8")
