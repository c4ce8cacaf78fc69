"""Face video -> aligned face crops per one-second window, ready for the face encoders.

The pipeline, for one trial video (chapter 03 walks through it):

1. **Sample.**  Only the frames the target rate needs are decoded: the video is read in order,
   frames we skip are ``grab()``-bed (demuxed, no colour conversion) and the kept ones
   ``retrieve()``-d.  The target rate follows the papers: 5 fps for the Safavi et al. model
   (DeepVANet keeps every 10th frame of DEAP's 50 fps videos) :cite:`safavi_deep_multimodal,zhang2021deepvanet`,
   10 fps for GBV-Net on DEAP and 12 fps on MAHNOB-HCI :cite:`yu2025gbvnet`.
2. **Assign.**  Window ``w`` covers ``[offset_s + w * window_s, offset_s + (w + 1) * window_s)``
   of video time, the same second as physiological window ``w`` (DEAP videos start at the
   stimulus, ``offset_s = 0``; MAHNOB session videos reach the stimulus at ``offset_s``).  Slot
   ``k`` of the window keeps the first video frame at or after ``start + k / fps``, so every kept
   frame lies inside its window (:func:`frame_schedule`).
3. **Landmarks.**  MediaPipe's Face Landmarker in IMAGE mode on each kept frame
   (:mod:`emolab.preprocess.landmarks`).
4. **Align and crop.**  A similarity transform (rotation, uniform scale, translation) puts the two
   eye centres on a horizontal line at fixed positions of a ``size`` × ``size`` crop
   (:func:`eye_alignment_matrix`).  The papers crop by 68 landmarks; the eye-line similarity is our
   choice of the same idea with MediaPipe's mesh.
5. **Fill.**  A kept frame without a face takes the crop (and blendshapes) of the nearest frame
   with a face in the same window; a window with no face at all is ``valid=False`` and is left out
   of the face modality (never filled from another second).
6. **Report.**  Per video: detection rate, windows without a face, and the video duration against
   the expected one (DEAP: 60 s), logged and returned in :class:`FaceVideoStats`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from emolab._logging import logger, use_log_level
from emolab.preprocess.landmarks import BLENDSHAPE_NAMES, FaceLandmarker, eye_centres
from emolab.workers import process_pool

__all__ = [
    "FaceConfig",
    "FaceVideoStats",
    "FaceWindows",
    "align_face",
    "detection_table",
    "extract_face_windows",
    "extract_many",
    "eye_alignment_matrix",
    "frame_schedule",
    "window_of_frame",
]


@dataclass
class FaceConfig:
    """Settings of the face pipeline (saved with every cache key and result).

    Attributes
    ----------
    fps : float
        Kept frames per second of video.  5 = Safavi et al. / DeepVANet; GBV-Net uses 10 (DEAP)
        and 12 (MAHNOB-HCI).
    size : int
        Side of the square crop in pixels (both papers: 64).
    keep_blendshapes : bool
        Keep MediaPipe's 52 blendshape scores per frame as an extra feature (ours; the papers use
        pixels only).  When False, the blendshape model is not run (about 8 % faster) and
        ``FaceWindows.blendshapes`` is all zeros.
    eye_y : float
        Height of the eye line in the crop, as a fraction of ``size`` from the top (ours: 0.36
        leaves the brows, mouth and chin inside a 64-pixel crop).
    eye_distance : float
        Distance between the eye centres as a fraction of ``size`` (ours: 0.34).
    min_detection_confidence : float
        Face detector threshold (MediaPipe's default 0.5).
    video_backend : str
        Which OpenCV reader decodes the video (see the comment on the field; ours).
    duration_tolerance_s : float or None
        A video whose duration differs from ``offset_s + n_windows * window_s`` by more than this
        is reported as a mismatch.  ``None``: only a video too short to cover every window is
        reported (use it for MAHNOB, whose session videos continue after the stimulus).
    """

    fps: float = 5.0
    size: int = 64
    keep_blendshapes: bool = True
    eye_y: float = 0.36
    eye_distance: float = 0.34
    min_detection_confidence: float = 0.5
    duration_tolerance_s: float | None = 1.0
    # "auto": OpenCV's own MJPEG reader for MJPG-in-AVI files (its grab() only demuxes, so skipped
    # frames cost nothing; FFmpeg's grab() decodes every frame), FFmpeg for everything else.
    # "ffmpeg" or "mjpeg" force one reader.  Both decode the same JPEGs; pixel values may differ
    # by a few levels between the two decoders.
    video_backend: str = "auto"

    def __post_init__(self) -> None:
        if self.video_backend not in ("auto", "ffmpeg", "mjpeg"):
            raise ValueError(
                f"FaceConfig.video_backend must be 'auto', 'ffmpeg' or 'mjpeg', got {self.video_backend!r}"
            )
        if self.fps <= 0:
            raise ValueError(f"FaceConfig.fps must be > 0, got {self.fps}")
        if self.size < 8:
            raise ValueError(f"FaceConfig.size must be >= 8 pixels, got {self.size}")
        if not (0 < self.eye_distance < 1 and 0 < self.eye_y < 1):
            raise ValueError("FaceConfig.eye_distance and eye_y are fractions of the crop, in (0, 1)")

    def frames_per_window(self, window_s: float = 1.0) -> int:
        """``T = round(fps * window_s)``: kept frames in one window."""
        return int(round(self.fps * window_s))


@dataclass
class FaceVideoStats:
    """What happened to one video (one row of :func:`detection_table`).

    ``n_slots`` = ``n_windows * T`` kept-frame slots; ``n_decoded`` frames were ``retrieve()``-d
    (fewer than ``n_slots`` when the video is short), ``n_grabbed`` were read in total;
    ``n_detected`` of the decoded frames had a face.  Durations are in seconds.
    """

    video: str
    backend: str
    video_fps: float
    n_video_frames: int
    video_duration_s: float
    expected_duration_s: float
    duration_mismatch: bool
    n_windows: int
    frames_per_window: int
    n_slots: int
    n_grabbed: int
    n_decoded: int
    n_detected: int
    detection_rate: float
    n_valid_windows: int
    n_windows_without_face: int


@dataclass
class FaceWindows:
    """Aligned face crops of one video, cut into the physiological windows.

    Attributes
    ----------
    frames : np.ndarray, uint8, shape (n_windows, T, 3, size, size)
        RGB crops, channels first (what the encoders take, after ``/ 255``); zeros in invalid
        windows.
    blendshapes : np.ndarray, float32, shape (n_windows, T, 52)
        Blendshape scores per kept frame (zeros when not kept or in invalid windows).
    detected : np.ndarray, bool, shape (n_windows, T)
        Whether a face was found in that very frame (before filling from neighbours).
    valid : np.ndarray, bool, shape (n_windows,)
        False when no frame of the window had a face: exclude it from the face modality.
    frame_index : np.ndarray, int64, shape (n_windows, T)
        Video frame each slot was taken from (-1 where the video ended before it).
    stats : FaceVideoStats
    config : FaceConfig
    """

    frames: np.ndarray
    blendshapes: np.ndarray
    detected: np.ndarray
    valid: np.ndarray
    frame_index: np.ndarray
    stats: FaceVideoStats
    config: FaceConfig = field(default_factory=FaceConfig)

    @property
    def n_windows(self) -> int:
        return int(self.frames.shape[0])


# ----------------------------------------------------------------------------------- arithmetic


def frame_schedule(
    *, video_fps: float, fps: float, n_windows: int, window_s: float = 1.0, offset_s: float = 0.0
) -> np.ndarray:
    """Video frame indices to keep, shape (n_windows, T) with ``T = round(fps * window_s)``.

    Slot ``k`` of window ``w`` takes the first frame at or after
    ``offset_s + w * window_s + k / fps`` seconds, i.e. index ``ceil(t * video_fps)``.  Since
    ``video_fps >= fps`` that frame still lies inside window ``w`` (:func:`window_of_frame`).

    >>> frame_schedule(video_fps=50, fps=5, n_windows=2)
    array([[ 0, 10, 20, 30, 40],
           [50, 60, 70, 80, 90]])
    """
    if video_fps <= 0 or not math.isfinite(video_fps):
        raise ValueError(f"video_fps must be a positive number, got {video_fps}")
    if fps > video_fps:
        raise ValueError(
            f"cannot keep {fps} frames per second from a {video_fps} fps video; lower FaceConfig.fps"
        )
    n_per = int(round(fps * window_s))
    if n_per < 1:
        raise ValueError(f"fps * window_s = {fps * window_s} keeps no frame per window")
    if n_per / fps > window_s + 1e-9:
        raise ValueError(f"round(fps * window_s) = {n_per} frames at {fps} fps overflow {window_s} s")
    starts = offset_s + window_s * np.arange(n_windows)[:, None]  # (n_windows, 1)
    times = starts + np.arange(n_per)[None, :] / fps  # (n_windows, T) seconds
    # A small tolerance keeps exact multiples (0.2 s * 50 fps = 10.000000001) on their frame.
    return np.ceil(times * video_fps - 1e-6).astype(np.int64)


def window_of_frame(
    frame_index: int | np.ndarray, *, video_fps: float, window_s: float = 1.0, offset_s: float = 0.0
) -> np.ndarray:
    """Window each video frame falls in: ``floor((frame_index / video_fps - offset_s) / window_s)``.

    Negative results are frames before the first window (MAHNOB's pre-stimulus video).
    """
    t = np.asarray(frame_index, dtype=np.float64) / video_fps
    return np.floor((t - offset_s) / window_s + 1e-9).astype(np.int64)


def eye_alignment_matrix(eyes: np.ndarray, *, size: int, eye_y: float, eye_distance: float) -> np.ndarray:
    """2×3 similarity matrix taking the two eye centres to their places in a ``size`` crop.

    Parameters
    ----------
    eyes : array, shape (2, 2)
        ``[[x, y] of the image-left eye, [x, y] of the image-right eye]`` in source pixels.

    Returns
    -------
    np.ndarray, float64, shape (2, 3)
        ``M`` such that ``M @ [x, y, 1]`` is the crop position; the image-left eye goes to
        ``(size * (0.5 - eye_distance / 2), size * eye_y)`` and the other to the mirror position,
        so the eye line is horizontal.
    """
    src = np.asarray(eyes, dtype=np.float64)
    dst = np.array(
        [[size * (0.5 - eye_distance / 2), size * eye_y], [size * (0.5 + eye_distance / 2), size * eye_y]]
    )
    # A similarity is z -> a z + b in complex numbers (a = scale * e^{i angle}); two point pairs fix it.
    zs = src[:, 0] + 1j * src[:, 1]
    zd = dst[:, 0] + 1j * dst[:, 1]
    if abs(zs[1] - zs[0]) < 1e-6:
        raise ValueError("the two eye centres coincide; cannot align")
    a = (zd[1] - zd[0]) / (zs[1] - zs[0])
    b = zd[0] - a * zs[0]
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def align_face(rgb: np.ndarray, landmarks: np.ndarray, config: FaceConfig) -> np.ndarray:
    """Aligned square crop ``(size, size, 3)`` uint8 of one RGB frame from its (478, 3) landmarks."""
    m = eye_alignment_matrix(
        eye_centres(landmarks), size=config.size, eye_y=config.eye_y, eye_distance=config.eye_distance
    )
    return cv2.warpAffine(
        rgb, m, (config.size, config.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


# ----------------------------------------------------------------------------------- one video


def _fourcc(cap: cv2.VideoCapture) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))


def _open_video(path: Path, backend: str = "auto") -> cv2.VideoCapture:
    """Open a video with the OpenCV reader ``backend`` names (see :class:`FaceConfig`)."""
    if backend == "mjpeg":
        return cv2.VideoCapture(str(path), cv2.CAP_OPENCV_MJPEG)
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if backend == "auto" and cap.isOpened() and _fourcc(cap).upper() == "MJPG" and path.suffix.lower() == ".avi":
        mjpeg = cv2.VideoCapture(str(path), cv2.CAP_OPENCV_MJPEG)
        if mjpeg.isOpened():
            cap.release()
            return mjpeg
        logger.debug("%s: OpenCV's MJPEG reader cannot open it; decoding with FFmpeg", path)
    return cap


def _video_fps(cap: cv2.VideoCapture, path: Path) -> tuple[float, int]:
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(
            f"{path}: the container reports no frame rate (CAP_PROP_FPS = {fps}); re-encode the "
            "video with a frame rate (e.g. ffmpeg -r 50) before extracting faces"
        )
    n_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    return fps, n_frames


def extract_face_windows(
    video_path: str | os.PathLike,
    *,
    n_windows: int,
    window_s: float = 1.0,
    offset_s: float = 0.0,
    config: FaceConfig | None = None,
    landmarker: FaceLandmarker | None = None,
    expected_duration_s: float | None = None,
    verbose: bool | str | None = None,
) -> FaceWindows:
    """Aligned face crops of ``video_path`` for ``n_windows`` windows of ``window_s`` seconds.

    Parameters
    ----------
    video_path : path-like
        The trial's face video (``Record.video_path``).
    n_windows : int
        Windows wanted (the physiological windows of the same trial, e.g. 60 for DEAP).
    window_s : float
        Window length in seconds (both papers: 1 s).
    offset_s : float
        Video time of the start of window 0 (``Record.video_offset_s``: DEAP 0, MAHNOB the
        stimulus onset).
    config : FaceConfig, optional
        Defaults to ``FaceConfig()`` (5 fps, 64×64, blendshapes kept).
    landmarker : FaceLandmarker, optional
        An open landmarker to reuse across videos; by default one is opened and closed here.
    expected_duration_s : float, optional
        How long the video should last, for the duration check (DEAP: 60; MAHNOB: stimulus onset
        plus the clip length).  Default ``offset_s + n_windows * window_s``; pass the trial's
        length when you extract fewer windows than the trial has.

    Returns
    -------
    FaceWindows
        ``frames`` (n_windows, T, 3, size, size) uint8 with ``T = round(fps * window_s)``, the
        blendshapes, detection masks, window validity and :class:`FaceVideoStats`.

    Raises
    ------
    FileNotFoundError, ValueError
        The video is missing, unreadable, or has no frame rate (the message names the file).
    """
    config = FaceConfig() if config is None else config
    path = Path(video_path)
    if not path.is_file():
        raise FileNotFoundError(f"face video {path} not found")
    if n_windows < 0:
        raise ValueError(f"n_windows must be >= 0, got {n_windows}")
    with use_log_level(verbose):
        if landmarker is None:
            with FaceLandmarker(
                min_detection_confidence=config.min_detection_confidence, blendshapes=config.keep_blendshapes
            ) as lm:
                return _extract(path, n_windows, window_s, offset_s, config, lm, expected_duration_s)
        if config.keep_blendshapes and not landmarker.blendshapes:
            raise ValueError(
                "FaceConfig.keep_blendshapes is True but the landmarker was opened with "
                "blendshapes=False; open it with blendshapes=True or set keep_blendshapes=False"
            )
        return _extract(path, n_windows, window_s, offset_s, config, landmarker, expected_duration_s)


def _extract(
    path: Path, n_windows: int, window_s: float, offset_s: float, config: FaceConfig, lm: FaceLandmarker,
    expected_duration_s: float | None,
) -> FaceWindows:  # fmt: skip
    cap = _open_video(path, config.video_backend)
    try:
        if not cap.isOpened():
            raise ValueError(f"{path}: OpenCV cannot open this video (corrupted or unknown codec)")
        video_fps, n_video_frames = _video_fps(cap, path)
        backend = cap.getBackendName()
        try:
            schedule = frame_schedule(
                video_fps=video_fps, fps=config.fps, n_windows=n_windows, window_s=window_s, offset_s=offset_s
            )  # (n_windows, T) frame indices
        except ValueError as exc:  # e.g. a 3 fps video for FaceConfig.fps=5: say which video
            raise ValueError(f"{path}: {exc}") from None
        if schedule.size and schedule.min() < 0:
            raise ValueError(f"{path}: offset_s={offset_s} puts window 0 before the video starts")
        n_per = config.frames_per_window(window_s)
        size = config.size
        frames = np.zeros((n_windows, n_per, 3, size, size), dtype=np.uint8)
        blend = np.zeros((n_windows, n_per, len(BLENDSHAPE_NAMES)), dtype=np.float32)
        detected = np.zeros((n_windows, n_per), dtype=bool)
        decoded = np.zeros((n_windows, n_per), dtype=bool)

        wanted = schedule.ravel()  # increasing, unique since video_fps >= fps
        n_grabbed = n_decoded = 0
        next_frame = 0
        for slot, target in enumerate(wanted):
            while next_frame < target:  # frames we skip: read, never converted
                if not cap.grab():
                    break
                next_frame += 1
                n_grabbed += 1
            if next_frame < target or not cap.grab():
                break  # the video ended before this slot
            n_grabbed += 1
            next_frame += 1
            ok, bgr = cap.retrieve()
            if not ok:
                raise ValueError(f"{path}: frame {target} could not be decoded")
            n_decoded += 1
            w, k = divmod(slot, n_per)
            decoded[w, k] = True
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            face = lm.detect(rgb)
            if face is None:
                continue
            detected[w, k] = True
            frames[w, k] = align_face(rgb, face.landmarks, config).transpose(2, 0, 1)  # HWC -> CHW
            if config.keep_blendshapes:
                blend[w, k] = face.blendshapes
    finally:
        cap.release()

    # Fill kept frames without a face from the nearest detected frame of the same window.
    valid = detected.any(axis=1)
    for w in np.flatnonzero(valid & ~detected.all(axis=1)):
        have = np.flatnonzero(detected[w])
        for k in np.flatnonzero(~detected[w]):
            src = have[np.argmin(np.abs(have - k))]  # ties go to the earlier frame
            frames[w, k] = frames[w, src]
            blend[w, k] = blend[w, src]

    frame_index = np.where(decoded, schedule, -1)
    stats = _stats(
        path, backend, video_fps, n_video_frames, n_windows, window_s, offset_s, config,
        n_grabbed, n_decoded, detected, valid, expected_duration_s,
    )  # fmt: skip
    return FaceWindows(frames, blend, detected, valid, frame_index, stats, config)


def _stats(
    path, backend, video_fps, n_video_frames, n_windows, window_s, offset_s, config,
    n_grabbed, n_decoded, detected, valid, expected_duration_s,
) -> FaceVideoStats:  # fmt: skip
    duration = n_video_frames / video_fps if n_video_frames > 0 else n_grabbed / video_fps
    needed = offset_s + n_windows * window_s
    expected = needed if expected_duration_s is None else float(expected_duration_s)
    tol = config.duration_tolerance_s
    too_short = n_decoded < detected.size or duration < needed - 1.0 / video_fps
    mismatch = bool(too_short or (tol is not None and abs(duration - expected) > tol))
    n_detected = int(detected.sum())
    stats = FaceVideoStats(
        video=str(path),
        backend=backend,
        video_fps=video_fps,
        n_video_frames=n_video_frames,
        video_duration_s=round(duration, 4),
        expected_duration_s=expected,
        duration_mismatch=mismatch,
        n_windows=n_windows,
        frames_per_window=detected.shape[1],
        n_slots=int(detected.size),
        n_grabbed=n_grabbed,
        n_decoded=n_decoded,
        n_detected=n_detected,
        detection_rate=n_detected / n_decoded if n_decoded else 0.0,
        n_valid_windows=int(valid.sum()),
        n_windows_without_face=int((~valid).sum()),
    )
    if mismatch:
        logger.warning(
            "%s: video lasts %.2f s (%d frames at %.3g fps) but %.2f s were expected (%d windows "
            "of %g s from %g s need %.2f s)%s",
            path, duration, n_video_frames, video_fps, expected, n_windows, window_s, offset_s, needed,
            f"; only {n_decoded} of {detected.size} frames could be sampled" if too_short else "",
        )  # fmt: skip
    if stats.n_windows_without_face:
        logger.info(
            "%s: no face in %d of %d windows (excluded from the face modality); detection rate %.1f %%",
            path, stats.n_windows_without_face, n_windows, 100 * stats.detection_rate,
        )  # fmt: skip
    else:
        logger.debug("%s: detection rate %.1f %%", path, 100 * stats.detection_rate)
    return stats


# ----------------------------------------------------------------------------------- many videos


def detection_table(results: Sequence[FaceWindows | FaceVideoStats]):
    """One row per video (a :class:`pandas.DataFrame` of :class:`FaceVideoStats`)."""
    import pandas as pd

    rows = [asdict(r.stats if isinstance(r, FaceWindows) else r) for r in results]
    return pd.DataFrame(rows, columns=list(FaceVideoStats.__dataclass_fields__))


_WORKER_LANDMARKER: FaceLandmarker | None = None


def _worker_init(min_detection_confidence: float, blendshapes: bool, log_level: int) -> None:
    """Open one landmarker per worker process, closed by multiprocessing's exit finalisers."""
    from multiprocessing import util

    global _WORKER_LANDMARKER
    logger.setLevel(log_level)
    _WORKER_LANDMARKER = FaceLandmarker(
        min_detection_confidence=min_detection_confidence, blendshapes=blendshapes
    )
    util.Finalize(_WORKER_LANDMARKER, _WORKER_LANDMARKER.close, exitpriority=10)


def _worker_run(args: tuple) -> FaceWindows:
    path, n_windows, window_s, offset_s, config, expected = args
    return extract_face_windows(
        path, n_windows=n_windows, window_s=window_s, offset_s=offset_s, config=config,
        landmarker=_WORKER_LANDMARKER, expected_duration_s=expected,
    )  # fmt: skip


def _per_video(value, n: int, name: str) -> list:
    if value is None or isinstance(value, (int, float, np.integer, np.floating)):
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise ValueError(f"{name} has {len(value)} entries for {n} videos")
    return value


def extract_many(
    videos: Sequence[str | os.PathLike],
    *,
    n_windows: int | Sequence[int],
    window_s: float = 1.0,
    offset_s: float | Sequence[float] = 0.0,
    config: FaceConfig | None = None,
    expected_duration_s: float | Sequence[float | None] | None = None,
    n_jobs: int = 1,
    verbose: bool | str | None = None,
) -> list[FaceWindows]:
    """:func:`extract_face_windows` over many videos, optionally in worker processes.

    Parameters
    ----------
    videos : sequence of path-like
    n_windows, offset_s, expected_duration_s
        One value for all videos, or one per video (MAHNOB trials differ); see
        :func:`extract_face_windows`.
    n_jobs : int
        Worker processes (:func:`emolab.workers.process_pool`: fresh interpreters, since
        MediaPipe's threads do not survive ``fork``; each opens its own landmarker).  1 runs in
        this process.

    Returns
    -------
    list of FaceWindows, in the order of ``videos``.
    """
    from tqdm.auto import tqdm

    config = FaceConfig() if config is None else config
    videos = [Path(v) for v in videos]
    jobs = list(
        zip(
            videos,
            _per_video(n_windows, len(videos), "n_windows"),
            [window_s] * len(videos),
            _per_video(offset_s, len(videos), "offset_s"),
            [config] * len(videos),
            _per_video(expected_duration_s, len(videos), "expected_duration_s"),
        )
    )
    with use_log_level(verbose):
        show = logger.level <= 20  # progress bar at INFO and below
        if n_jobs <= 1 or len(jobs) <= 1:
            with FaceLandmarker(
                min_detection_confidence=config.min_detection_confidence, blendshapes=config.keep_blendshapes
            ) as lm:
                return [
                    extract_face_windows(
                        p, n_windows=n, window_s=ws, offset_s=o, config=c, landmarker=lm, expected_duration_s=e
                    )
                    for p, n, ws, o, c, e in tqdm(jobs, desc="face videos", unit="video", disable=not show)
                ]
        with process_pool(
            min(n_jobs, len(jobs)),
            initializer=_worker_init,
            initargs=(config.min_detection_confidence, config.keep_blendshapes, logger.level),
            what="face extraction",
        ) as pool:
            return list(
                tqdm(pool.map(_worker_run, jobs), total=len(jobs), desc="face videos", unit="video", disable=not show)
            )
