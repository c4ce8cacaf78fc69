"""Writers of tiny folders in the exact on-disk formats of DEAP and MAHNOB-HCI, for tests.

Every trial is *marked* so that a test can tell which trial a piece of data came from:

- DEAP signals: channel ``c`` of video ``e`` of subject ``s`` holds ``deap_mark(s, e) + c / 64``
  plus a slow ramp; face video frames are a flat colour whose blue value is ``10 * e``
  (decode with :func:`decode_video_mark`) and green value ``10 * s``.
- MAHNOB signals: channel ``c`` holds ``session_id + c / 4`` (µV) plus the Status trigger; the
  session video's frames encode the session id the same way.

Only small sizes are written (a few trials of a few seconds) so tests stay fast, but the layout,
file names, pickle protocol, CSV columns, XML attributes and BDF channels are the real ones.
"""

from __future__ import annotations

import io
import pickle
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emolab.data.channels import EEG_CH_NAMES, MAHNOB_CH_NAMES

# --------------------------------------------------------------------------------------------
# Python-2 style pickles
# --------------------------------------------------------------------------------------------


def _py2_str(s: bytes) -> bytes:
    """A Python 2 ``str`` (bytes) as cPickle protocol 2 writes it."""
    if len(s) < 256:
        return b"U" + bytes([len(s)]) + s  # SHORT_BINSTRING
    return b"T" + struct.pack("<i", len(s)) + s  # BINSTRING


def _py2_ndarray(arr: np.ndarray) -> bytes:
    """A float64 C-contiguous array as Python-2 NumPy pickled it (module numpy.core.multiarray)."""
    arr = np.ascontiguousarray(arr, dtype="<f8")
    out = io.BytesIO()
    w = out.write
    w(b"cnumpy.core.multiarray\n_reconstruct\n")
    w(b"cnumpy\nndarray\n")
    w(b"K\x00\x85")  # (0,)
    w(_py2_str(b"b"))
    w(b"\x87R")  # TUPLE3, REDUCE -> empty ndarray
    # state: (1, shape, dtype, is_fortran, rawdata)
    w(b"(K\x01")
    w(b"(" + b"".join(b"J" + struct.pack("<i", n) for n in arr.shape) + b"t")
    w(b"cnumpy\ndtype\n")
    w(_py2_str(b"f8") + b"K\x00K\x01\x87R")  # dtype('f8', 0, 1)
    w(b"(K\x03" + _py2_str(b"<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")  # BUILD dtype
    w(b"\x89")  # NEWFALSE (is_fortran)
    w(_py2_str(arr.tobytes()))
    w(b"tb")  # TUPLE, BUILD ndarray
    return out.getvalue()


def py2_pickle_bytes(obj: dict[str, np.ndarray]) -> bytes:
    """Protocol-2 pickle of a dict of float64 arrays exactly as Python 2's cPickle wrote DEAP.

    Keys and array buffers are Python 2 byte strings (``SHORT_BINSTRING``/``BINSTRING``), so
    Python 3 can only load the result with ``encoding="latin1"`` (like the real files).
    """
    body = b"".join(_py2_str(k.encode("latin1")) + _py2_ndarray(v) for k, v in obj.items())
    return b"\x80\x02}(" + body + b"u."


def write_dat(path: Path, data: np.ndarray, labels: np.ndarray, *, style: str = "py2") -> Path:
    """Write a DEAP ``sNN.dat``: ``style="py2"`` (as the real files) or ``"py3"`` (pickle.dump)."""
    obj = {"labels": np.asarray(labels, np.float64), "data": np.asarray(data, np.float64)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if style == "py2":
        path.write_bytes(py2_pickle_bytes(obj))
    elif style == "py3":
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=2)
    else:
        raise ValueError(style)
    return path


# --------------------------------------------------------------------------------------------
# Videos
# --------------------------------------------------------------------------------------------


def write_marked_video(
    path: Path, *, mark: int, group: int = 0, n_frames: int = 3, fps: float = 50.0, size=(32, 24)
) -> Path:
    """Write a tiny MJPG AVI whose frames are a flat BGR colour (10*mark, 10*group, 128)."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), path
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = (10 * mark, 10 * group, 128)
    for _ in range(n_frames):
        writer.write(frame)
    writer.release()
    return path


def decode_video_mark(path: Path) -> tuple[int, int]:
    """Read the first frame of a marked video and return ``(mark, group)``."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    cap.release()
    assert ok, f"cannot read {path}"
    b, g, _ = frame.reshape(-1, 3).mean(axis=0)
    return int(round(b / 10)), int(round(g / 10))


# --------------------------------------------------------------------------------------------
# DEAP
# --------------------------------------------------------------------------------------------


def deap_mark(subject: int, experiment_id: int) -> float:
    """The constant that channel 0 of this (subject, video) holds in a fake DEAP folder."""
    return 100.0 * subject + experiment_id


def deap_labels(subject: int, experiment_id: int) -> np.ndarray:
    """Valence, arousal, dominance, liking of a fake trial (1-9, distinct per video)."""
    v = 1 + (experiment_id + subject) % 8  # + 0.25 stays on the 1-9 scale
    a = 9 - (experiment_id * 2 + subject) % 9
    return np.array([v + 0.25, a, 5.0, 3.5])


@dataclass
class FakeDeap:
    """What :func:`write_deap_folder` wrote, for assertions."""

    root: Path
    subjects: list[int]
    n_trials: int
    n_samples: int
    # subject -> array whose element t-1 is the Experiment_id presented as Trial t
    order: dict[int, np.ndarray] = field(default_factory=dict)
    missing_videos: dict[int, list[int]] = field(default_factory=dict)  # subject -> trials
    video_subjects: list[int] = field(default_factory=list)

    def trial_of(self, subject: int, experiment_id: int) -> int:
        return int(np.flatnonzero(self.order[subject] == experiment_id)[0]) + 1


def write_deap_folder(
    root: Path,
    *,
    subjects=(1, 2),
    n_trials: int = 4,
    n_samples: int = 384 + 128,
    video_subjects=None,
    missing_videos: dict[int, list[int]] | None = None,
    style: str = "py2",
    seed: int = 0,
) -> FakeDeap:
    """Write ``data_preprocessed_python/``, ``metadata_csv/participant_ratings.csv`` and
    ``face_video/sNN/sNN_trialTT.avi`` for ``subjects``.

    Presentation order is a random permutation of Experiment_id per subject (never the identity
    when ``n_trials > 1``); ``missing_videos`` maps subject -> presentation trials with no video;
    ``video_subjects`` (default: the subjects <= 22) get a ``face_video/sNN`` folder.
    """
    import pandas as pd

    root = Path(root)
    rng = np.random.default_rng(seed)
    subjects = [int(s) for s in subjects]
    video_subjects = [s for s in subjects if s <= 22] if video_subjects is None else list(video_subjects)
    missing_videos = {int(k): list(v) for k, v in (missing_videos or {}).items()}
    fake = FakeDeap(root, subjects, n_trials, n_samples, missing_videos=missing_videos,
                    video_subjects=video_subjects)  # fmt: skip
    rows = []
    ramp = np.linspace(0.0, 0.5, n_samples)
    for s in subjects:
        order = rng.permutation(np.arange(1, n_trials + 1))
        while n_trials > 1 and np.all(order == np.arange(1, n_trials + 1)):
            order = rng.permutation(np.arange(1, n_trials + 1))
        fake.order[s] = order
        data = np.empty((n_trials, 40, n_samples))
        labels = np.empty((n_trials, 4))
        for e in range(1, n_trials + 1):
            data[e - 1] = deap_mark(s, e) + np.arange(40)[:, None] / 64 + ramp[None, :]
            labels[e - 1] = deap_labels(s, e)
        write_dat(root / "data_preprocessed_python" / f"s{s:02d}.dat", data, labels, style=style)
        for t, e in enumerate(order, start=1):
            v, a, d, li = labels[e - 1]
            rows.append(dict(Participant_id=s, Trial=t, Experiment_id=int(e),
                             Start_time=1_000_000 * t, Valence=v, Arousal=a, Dominance=d,
                             Liking=li, Familiarity=3))  # fmt: skip
            if s in video_subjects and t not in missing_videos.get(s, []):
                write_marked_video(
                    root / "face_video" / f"s{s:02d}" / f"s{s:02d}_trial{t:02d}.avi",
                    mark=int(e), group=s,
                )
    csv = root / "metadata_csv" / "participant_ratings.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(csv, index=False)
    return fake


# --------------------------------------------------------------------------------------------
# MAHNOB-HCI
# --------------------------------------------------------------------------------------------


@dataclass
class FakeSession:
    """One MAHNOB session to write (times in seconds; the Status channel pulses at onset/offset)."""

    session_id: int
    subject: int
    is_stim: bool = True
    ratings: dict[str, int] | None = field(
        default_factory=lambda: {"feltVlnc": 7, "feltArsl": 3, "feltEmo": 1, "feltCtrl": 5,
                                 "feltPred": 6}  # fmt: skip
    )
    pre_s: int = 3
    stim_s: int = 4
    post_s: int = 2
    with_status: bool = True
    with_video: bool = True
    vid_rate: float = 60.0
    cut_nr: int = 1


def mahnob_video_name(subject: int, cut_nr: int) -> str:
    return f"P{subject}-Rec1-2009.07.09.17.53.46_C1 trigger _C_Section_{cut_nr}.avi"


def write_mahnob_bdf(path: Path, sess: FakeSession, *, sfreq: int = 256) -> Path:
    """Write a BDF with the 46 MAHNOB channels (+ ``Status`` when ``sess.with_status``)."""
    import pyedflib

    n = (sess.pre_s + sess.stim_s + sess.post_s) * sfreq
    onset, offset = sess.pre_s * sfreq, (sess.pre_s + sess.stim_s) * sfreq
    t = np.arange(n) / sfreq
    signals, headers = [], []
    for c, name in enumerate(MAHNOB_CH_NAMES):
        unit = "uV" if c < 40 else ("Ohm" if name.startswith("GSR") else "")
        x = sess.session_id + c / 4 + 0.1 * np.sin(2 * np.pi * t)
        signals.append(x)
        headers.append(dict(label=name, dimension=unit, sample_frequency=sfreq,
                            physical_min=-262143.0, physical_max=262143.0,
                            digital_min=-8388608, digital_max=8388607,
                            transducer="", prefilter=""))  # fmt: skip
    if sess.with_status:
        status = np.zeros(n)
        status[onset : onset + 4] = 1  # a short trigger pulse at the stimulus onset ...
        status[offset : offset + 4] = 1  # ... and one at its end
        signals.append(status)
        headers.append(dict(label="Status", dimension="Boolean", sample_frequency=sfreq,
                            physical_min=-8388608.0, physical_max=8388607.0,
                            digital_min=-8388608, digital_max=8388607,
                            transducer="Triggers and Status", prefilter="No filtering"))  # fmt: skip
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w = pyedflib.EdfWriter(str(path), len(signals), file_type=pyedflib.FILETYPE_BDF)
    try:
        with warnings.catch_warnings():  # "-262143.0 has 9 chars": the header keeps 8, harmless
            warnings.simplefilter("ignore", UserWarning)
            w.setSignalHeaders(headers)
        w.writeSamples([np.asarray(s, np.float64) for s in signals])
    finally:
        w.close()
    return path


def write_session_xml(path: Path, sess: FakeSession, *, bdf_name: str, video_name: str | None,
                      sfreq: int = 256) -> Path:
    """Write ``session.xml`` with the attributes the real files carry."""
    attrs = {
        "cutLenSec": f"{sess.stim_s:.2f}", "cutNr": str(sess.cut_nr),
        "isStim": "1" if sess.is_stim else "0", "mediaFile": f"{sess.cut_nr}.avi",
        "sessionId": str(sess.session_id), "vidRate": f"{sess.vid_rate}",
        "vidBeginSmp": str(int(sess.pre_s * sess.vid_rate)),
        "vidEndSmp": str(int((sess.pre_s + sess.stim_s) * sess.vid_rate)),
        "audBeginSmp": "0", "audEndSmp": "0", "audRate": "48000",
    }  # fmt: skip
    if sess.is_stim and sess.ratings:
        attrs.update({k: str(v) for k, v in sess.ratings.items()})
    attr_text = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    tracks = [f'  <track color="" type="Physiological" filename="{bdf_name}" sampRate="{sfreq}" />']
    if video_name:
        tracks.append(f'  <track type="Video" filename="{video_name}" />')
    text = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f"<session {attr_text}>\n"
        f'  <subject id="{sess.subject}" />\n' + "\n".join(tracks) + "\n</session>\n"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_mahnob_folder(root: Path, sessions: list[FakeSession]) -> Path:
    """Write ``Sessions/<id>/{session.xml, Part_*.bdf, P*-Rec1-*.avi}`` for each session."""
    root = Path(root)
    for k, sess in enumerate(sessions, start=1):
        folder = root / "Sessions" / str(sess.session_id)
        kind = "S" if sess.is_stim else "N"
        bdf_name = f"Part_{sess.subject}_{kind}_Trial{k}_emotion.bdf"
        write_mahnob_bdf(folder / bdf_name, sess)
        video_name = mahnob_video_name(sess.subject, sess.cut_nr) if sess.with_video else None
        if video_name:
            write_marked_video(folder / video_name, mark=sess.session_id % 25, group=sess.subject,
                               n_frames=2, fps=sess.vid_rate)  # fmt: skip
        write_session_xml(folder / "session.xml", sess, bdf_name=bdf_name, video_name=video_name)
    return root


__all__ = [
    "EEG_CH_NAMES", "FakeDeap", "FakeSession", "decode_video_mark", "deap_labels", "deap_mark",
    "mahnob_video_name", "py2_pickle_bytes", "write_dat", "write_deap_folder", "write_mahnob_bdf",
    "write_mahnob_folder", "write_marked_video", "write_session_xml",
]  # fmt: skip
