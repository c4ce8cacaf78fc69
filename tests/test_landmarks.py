"""Face landmarks on a real photographic face, and the model file's hash check."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from emolab.preprocess import landmarks as lmk
from emolab.preprocess.landmarks import (
    BLENDSHAPE_NAMES,
    FaceLandmarker,
    FaceResult,
    face_model_path,
    file_sha256,
)

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def landmarker():
    with FaceLandmarker() as lm:
        yield lm


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()  # (512, 512, 3) uint8, public domain


def test_shipped_model_matches_manifest():
    manifest = yaml.safe_load(open(lmk._MANIFEST, encoding="utf-8"))
    entry = manifest["models"]["face_landmarker"]
    path = face_model_path()
    assert path.stat().st_size == entry["size_bytes"]
    assert file_sha256(path) == entry["sha256"]


def test_corrupted_model_copy_is_refused(tmp_path):
    bad = tmp_path / "face_landmarker.task"
    shutil.copyfile(face_model_path(), bad)
    with open(bad, "r+b") as fh:  # flip one byte in the middle
        fh.seek(1_000_000)
        byte = fh.read(1)
        fh.seek(1_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError, match=str(bad).replace("\\", "\\\\") + ".*sha256"):
        face_model_path(bad)
    with pytest.raises(ValueError, match="sha256"):
        FaceLandmarker(model_path=bad)


def test_missing_model_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.task"):
        face_model_path(tmp_path / "nothere.task")


def test_astronaut_face(landmarker, astronaut):
    face = landmarker.detect(astronaut)
    assert isinstance(face, FaceResult)
    assert face.landmarks.shape == (478, 3) and face.landmarks.dtype == np.float32
    assert face.blendshapes.shape == (52,) and face.blendshapes.dtype == np.float32
    assert len(face.BLENDSHAPE_NAMES) == 52 == len(BLENDSHAPE_NAMES)
    assert np.all((face.blendshapes >= 0) & (face.blendshapes <= 1))
    # Pixel coordinates: the astronaut's face sits in the upper middle of the 512x512 image.
    x, y = face.landmarks[:, 0], face.landmarks[:, 1]
    assert 120 < x.min() and x.max() < 330 and 30 < y.min() and y.max() < 260
    # Anatomy: eyes above the nose tip (index 1) above the lower lip (index 17), eyes side by side.
    (xl, yl), (xr, yr) = face.eye_centres()
    assert xl < face.landmarks[1, 0] < xr
    assert max(yl, yr) < face.landmarks[1, 1] < face.landmarks[17, 1]
    assert 25 < xr - xl < 90


def test_landmarks_follow_the_image(landmarker, astronaut):
    """A shifted image gives landmarks shifted by the same number of pixels."""
    base = landmarker.detect(astronaut)
    shifted = np.zeros_like(astronaut)
    shifted[20:, 30:] = astronaut[:-20, :-30]
    moved = landmarker.detect(shifted)
    delta = np.median(moved.landmarks[:, :2] - base.landmarks[:, :2], axis=0)
    np.testing.assert_allclose(delta, [30, 20], atol=2.0)


def test_no_face_gives_none(landmarker):
    assert landmarker.detect(np.zeros((240, 320, 3), dtype=np.uint8)) is None
    rng = np.random.default_rng(0)
    assert landmarker.detect(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)) is None


def test_bad_input_and_closed():
    with FaceLandmarker() as lm:
        with pytest.raises(ValueError, match="uint8"):
            lm.detect(np.zeros((64, 64, 3), dtype=np.float32))
        with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
            lm.detect(np.zeros((64, 64), dtype=np.uint8))
    with pytest.raises(RuntimeError, match="closed"):
        lm.detect(np.zeros((64, 64, 3), dtype=np.uint8))
    lm.close()  # idempotent


def test_blendshapes_off(astronaut):
    with FaceLandmarker(blendshapes=False) as lm:
        face = lm.detect(astronaut)
    assert face.landmarks.shape == (478, 3)
    assert face.blendshapes.shape == (52,) and np.isnan(face.blendshapes).all()
