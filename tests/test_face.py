"""The face pipeline on tiny MJPG videos of a real face (scikit-image's astronaut)."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from emolab._logging import logger
from emolab.preprocess import face as face_mod
from emolab.preprocess.face import (
    FaceConfig,
    align_face,
    detection_table,
    extract_face_windows,
    extract_many,
    eye_alignment_matrix,
    frame_schedule,
    window_of_frame,
)
from emolab.preprocess.landmarks import FaceLandmarker, eye_centres

skimage_data = pytest.importorskip("skimage.data")

W, H = 320, 240


def moving_face_frames(n: int, *, blank=()) -> list[np.ndarray]:
    """BGR frames of the astronaut, rotated (up to ±15°) and shifted differently in every frame."""
    face = cv2.cvtColor(cv2.resize(skimage_data.astronaut(), (W, W)), cv2.COLOR_RGB2BGR)
    frames = []
    for i in range(n):
        m = cv2.getRotationMatrix2D((W / 2, 110), 15 * np.sin(i / 7), 1.0)
        m[:, 2] += (20 * np.cos(i / 5), 15 * np.sin(i / 3) - 20)
        frame = cv2.warpAffine(face, m, (W, H), borderMode=cv2.BORDER_REFLECT)
        if i in blank:
            frame[:] = 0
        frames.append(frame)
    return frames


def write_avi(path, frames, fps: float = 50.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()
    return path


@pytest.fixture(scope="module")
def landmarker():
    with FaceLandmarker() as lm:
        yield lm


@pytest.fixture(scope="module")
def face_video(tmp_path_factory):
    """2 s at 50 fps of a moving face."""
    return write_avi(tmp_path_factory.mktemp("v") / "s01_trial01.avi", moving_face_frames(100))


@pytest.fixture(scope="module")
def blank_video(tmp_path_factory):
    """3 s at 50 fps: second 0 all face, second 1 face only in frames 60 and 80, second 2 blank."""
    blank = set(range(50, 150)) - {60, 80}
    return write_avi(tmp_path_factory.mktemp("v") / "s01_trial02.avi", moving_face_frames(150, blank=blank))


@pytest.fixture()
def log_records():
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


# ------------------------------------------------------------------------------ arithmetic


def test_schedule_deap_5fps():
    s = frame_schedule(video_fps=50, fps=5, n_windows=3)
    assert s.shape == (3, 5)
    np.testing.assert_array_equal(s[0], [0, 10, 20, 30, 40])
    np.testing.assert_array_equal(s[2], [100, 110, 120, 130, 140])


@pytest.mark.parametrize(
    "video_fps, fps, offset_s, window_s",
    [(50, 10, 0.0, 1.0), (60.0, 12, 30.0, 1.0), (59.94, 12, 29.97, 1.0), (25, 5, 0.013, 1.0),
     (30, 4, 1.5, 2.0), (24, 24, 0.0, 1.0)],
)  # fmt: skip
def test_every_kept_frame_falls_in_its_window(video_fps, fps, offset_s, window_s):
    s = frame_schedule(video_fps=video_fps, fps=fps, n_windows=7, window_s=window_s, offset_s=offset_s)
    assert s.shape == (7, round(fps * window_s))
    win = window_of_frame(s, video_fps=video_fps, window_s=window_s, offset_s=offset_s)
    np.testing.assert_array_equal(win, np.repeat(np.arange(7)[:, None], s.shape[1], axis=1))
    assert np.all(np.diff(s.ravel()) > 0)  # strictly increasing: one decode per kept frame
    # each slot is the first frame at or after its target time
    t = offset_s + window_s * np.arange(7)[:, None] + np.arange(s.shape[1]) / fps
    assert np.all(s / video_fps >= t - 1e-6) and np.all((s - 1) / video_fps < t)


def test_window_of_frame_before_offset_is_negative():
    assert window_of_frame(np.array([0, 1799, 1800, 1859, 1860]), video_fps=60, offset_s=30).tolist() == [
        -30, -1, 0, 0, 1
    ]


def test_schedule_refuses_upsampling():
    with pytest.raises(ValueError, match="lower FaceConfig.fps"):
        frame_schedule(video_fps=4, fps=5, n_windows=1)


def test_alignment_matrix_puts_eyes_on_a_horizontal_line():
    rng = np.random.default_rng(1)
    for _ in range(20):
        eyes = rng.uniform(0, 300, (2, 2))
        m = eye_alignment_matrix(eyes, size=64, eye_y=0.4, eye_distance=0.3)
        out = (m @ np.c_[eyes, np.ones(2)].T).T
        np.testing.assert_allclose(out, [[64 * 0.35, 64 * 0.4], [64 * 0.65, 64 * 0.4]], atol=1e-9)
        # a similarity: equal scale on both axes, no shear
        np.testing.assert_allclose(m[:, :2] @ m[:, :2].T, np.eye(2) * np.linalg.det(m[:, :2]), atol=1e-9)


def test_config_is_serialisable_and_checked():
    from dataclasses import asdict

    assert asdict(FaceConfig(fps=10))["fps"] == 10
    assert FaceConfig(fps=12).frames_per_window() == 12
    with pytest.raises(ValueError):
        FaceConfig(fps=0)
    with pytest.raises(ValueError, match="video_backend"):
        FaceConfig(video_backend="gstreamer")


def test_backends_decode_the_same_video(face_video, landmarker):
    """FFmpeg and OpenCV's MJPEG reader sample the same frames; crops differ only by decoder rounding."""
    a = extract_face_windows(face_video, n_windows=2, config=FaceConfig(video_backend="ffmpeg"), landmarker=landmarker)
    b = extract_face_windows(face_video, n_windows=2, config=FaceConfig(video_backend="mjpeg"), landmarker=landmarker)
    np.testing.assert_array_equal(a.frame_index, b.frame_index)
    assert (a.stats.backend, b.stats.backend) == ("FFMPEG", "CV_MJPEG")
    assert np.abs(a.frames.astype(float) - b.frames).mean() < 6


# ------------------------------------------------------------------------------ real face


def test_aligned_crops_have_level_eyes_at_fixed_places(landmarker):
    """Rotated, shifted faces come out with the eye line horizontal at the configured place."""
    config = FaceConfig(size=192, eye_y=0.4, eye_distance=0.3)  # large enough to re-detect
    target = np.array([[192 * 0.35, 192 * 0.4], [192 * 0.65, 192 * 0.4]])
    for bgr in moving_face_frames(40)[::8]:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        src = landmarker.detect(rgb)
        (xl, yl), (xr, yr) = src.eye_centres()
        crop = align_face(rgb, src.landmarks, config)
        assert crop.shape == (192, 192, 3) and crop.dtype == np.uint8
        again = landmarker.detect(crop)
        assert again is not None
        eyes = eye_centres(again.landmarks)
        np.testing.assert_allclose(eyes, target, atol=4.0)  # px of a 192 crop
        tilt = np.degrees(np.arctan2(eyes[1, 1] - eyes[0, 1], eyes[1, 0] - eyes[0, 0]))
        assert abs(tilt) < 2.0, f"eye line tilted {tilt:.1f} deg (source {np.degrees(np.arctan2(yr - yl, xr - xl)):.1f})"


def test_extract_windows_shapes_and_stats(face_video, landmarker):
    fw = extract_face_windows(face_video, n_windows=2, config=FaceConfig(fps=5), landmarker=landmarker)
    assert fw.frames.shape == (2, 5, 3, 64, 64) and fw.frames.dtype == np.uint8
    assert fw.blendshapes.shape == (2, 5, 52) and fw.blendshapes.dtype == np.float32
    assert fw.detected.all() and fw.valid.all()
    np.testing.assert_array_equal(fw.frame_index, [[0, 10, 20, 30, 40], [50, 60, 70, 80, 90]])
    assert fw.frames.reshape(10, -1).std(axis=1).min() > 10  # real image content in every crop
    assert fw.blendshapes.max() > 0
    st = fw.stats
    assert (st.video_fps, st.n_video_frames, st.n_slots, st.n_decoded, st.n_detected) == (50, 100, 10, 10, 10)
    assert st.detection_rate == 1.0 and not st.duration_mismatch and st.n_grabbed == 91


def test_blendshapes_can_be_dropped(face_video, landmarker):
    fw = extract_face_windows(
        face_video, n_windows=1, config=FaceConfig(keep_blendshapes=False), landmarker=landmarker
    )
    assert fw.valid.all() and not fw.blendshapes.any()
    fw = extract_face_windows(face_video, n_windows=1, config=FaceConfig(keep_blendshapes=False))
    assert fw.valid.all() and not fw.blendshapes.any()
    with FaceLandmarker(blendshapes=False) as lm:
        with pytest.raises(ValueError, match="keep_blendshapes"):
            extract_face_windows(face_video, n_windows=1, config=FaceConfig(), landmarker=lm)


@pytest.mark.parametrize("backend, expected_backend", [("auto", "CV_MJPEG"), ("ffmpeg", "FFMPEG")])
def test_decodes_only_kept_frames(face_video, landmarker, monkeypatch, backend, expected_backend):
    calls = {"grab": 0, "retrieve": 0, "read": 0}

    class Counting:
        def __init__(self, path, backend):
            self._cap = real_open(path, backend)

        def __getattr__(self, name):
            return getattr(self._cap, name)

        def grab(self):
            calls["grab"] += 1
            return self._cap.grab()

        def retrieve(self):
            calls["retrieve"] += 1
            return self._cap.retrieve()

        def read(self):  # pragma: no cover - must not be used
            calls["read"] += 1
            return self._cap.read()

    real_open = face_mod._open_video
    monkeypatch.setattr(face_mod, "_open_video", Counting)
    fw = extract_face_windows(
        face_video, n_windows=2, config=FaceConfig(fps=10, video_backend=backend), landmarker=landmarker
    )
    assert fw.stats.backend == expected_backend
    assert calls == {"grab": 96, "retrieve": 20, "read": 0}  # frames 0..95 read, 20 of them decoded
    assert (fw.stats.n_grabbed, fw.stats.n_decoded) == (96, 20)


def test_no_face_path(blank_video, landmarker):
    fw = extract_face_windows(blank_video, n_windows=3, config=FaceConfig(fps=5), landmarker=landmarker)
    np.testing.assert_array_equal(fw.valid, [True, True, False])
    np.testing.assert_array_equal(fw.detected[1], [False, True, False, True, False])  # frames 60, 80
    # undetected frames take the nearest detected frame of the same window (ties: the earlier)
    for k, src in enumerate([1, 1, 1, 3, 3]):
        np.testing.assert_array_equal(fw.frames[1, k], fw.frames[1, src])
        np.testing.assert_array_equal(fw.blendshapes[1, k], fw.blendshapes[1, src])
    assert not fw.frames[2].any() and not fw.blendshapes[2].any()
    st = fw.stats
    assert (st.n_decoded, st.n_detected, st.n_valid_windows, st.n_windows_without_face) == (15, 7, 2, 1)
    assert st.detection_rate == pytest.approx(7 / 15)
    table = detection_table([fw])
    assert table.loc[0, "n_windows_without_face"] == 1 and table.loc[0, "video"].endswith("s01_trial02.avi")


def test_short_video_is_reported(face_video, landmarker, log_records):
    fw = extract_face_windows(face_video, n_windows=4, config=FaceConfig(fps=5), landmarker=landmarker)
    np.testing.assert_array_equal(fw.valid, [True, True, False, False])
    assert (fw.frame_index[2:] == -1).all()
    assert fw.stats.duration_mismatch and fw.stats.expected_duration_s == 4.0
    assert any("s01_trial01.avi" in r.getMessage() and "2.00 s" in r.getMessage() for r in log_records)


def test_long_video_mismatch_depends_on_tolerance(face_video, landmarker):
    cfg = FaceConfig(duration_tolerance_s=0.5)
    assert extract_face_windows(face_video, n_windows=1, config=cfg, landmarker=landmarker).stats.duration_mismatch
    cfg = FaceConfig(duration_tolerance_s=None)  # MAHNOB: longer videos are expected
    assert not extract_face_windows(face_video, n_windows=1, config=cfg, landmarker=landmarker).stats.duration_mismatch
    # fewer windows than the trial has, on purpose: compare with the trial's length instead
    cfg = FaceConfig(duration_tolerance_s=0.5)
    fw = extract_face_windows(face_video, n_windows=1, config=cfg, landmarker=landmarker, expected_duration_s=2.0)
    assert not fw.stats.duration_mismatch and fw.stats.expected_duration_s == 2.0
    fw = extract_face_windows(face_video, n_windows=1, config=cfg, landmarker=landmarker, expected_duration_s=3.0)
    assert fw.stats.duration_mismatch


def test_offset_shifts_windows(face_video, landmarker):
    fw = extract_face_windows(face_video, n_windows=1, offset_s=0.5, config=FaceConfig(fps=5), landmarker=landmarker)
    np.testing.assert_array_equal(fw.frame_index, [[25, 35, 45, 55, 65]])


def test_unreadable_and_fpsless_videos(tmp_path, landmarker, monkeypatch):
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(ValueError, match="junk.avi"):
        extract_face_windows(junk, n_windows=1, landmarker=landmarker)
    with pytest.raises(FileNotFoundError, match="missing.avi"):
        extract_face_windows(tmp_path / "missing.avi", n_windows=1, landmarker=landmarker)

    class NoFps:
        def __init__(self, path, backend):
            pass

        def isOpened(self):
            return True

        def get(self, prop):
            return 0.0

        def getBackendName(self):
            return "none"

        def release(self):
            return None

    monkeypatch.setattr(face_mod, "_open_video", NoFps)
    with pytest.raises(ValueError, match=r"junk.avi.*CAP_PROP_FPS"):
        extract_face_windows(junk, n_windows=1, landmarker=landmarker)


def test_extract_many_workers_match_serial(face_video, blank_video):
    cfg = FaceConfig(fps=5)
    serial = extract_many([face_video, blank_video], n_windows=[2, 3], config=cfg, n_jobs=1, verbose=False)
    parallel = extract_many([face_video, blank_video], n_windows=[2, 3], config=cfg, n_jobs=2, verbose=False)
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_array_equal(a.valid, b.valid)
        assert a.stats == b.stats
    assert [fw.n_windows for fw in serial] == [2, 3]
    shorter = extract_many([face_video, blank_video], n_windows=1, config=cfg, expected_duration_s=[2.0, 3.0], verbose=False)
    assert [fw.stats.duration_mismatch for fw in shorter] == [False, False]
    with pytest.raises(ValueError, match="n_windows has 1 entries for 2 videos"):
        extract_many([face_video, blank_video], n_windows=[2], config=cfg)
