"""Face landmarks and blendshapes on one RGB image, with MediaPipe's Face Landmarker.

MediaPipe 1.x has no legacy ``solutions`` API and ships no model files: its Tasks API needs a
``face_landmarker.task`` model, which emolab ships in ``emolab/assets/`` (Apache-2.0, see
``emolab/assets/NOTICE``) and checks against the sha256 recorded in ``data_manifest.yaml`` every
time it is loaded :cite:`mediapipe_face_landmarker`.  Nothing is downloaded at run time.

The landmarker runs in IMAGE mode: every frame is detected on its own.  VIDEO (tracking) mode is
faster on smooth footage but loses the face when the head jumps between sparsely sampled frames,
which is exactly what sampling a 50 fps video at 5 fps produces.  Chapter 03 introduces it::

    from skimage.data import astronaut
    from emolab.preprocess.landmarks import FaceLandmarker

    with FaceLandmarker() as landmarker:
        face = landmarker.detect(astronaut())   # (512, 512, 3) uint8 RGB
    face.landmarks.shape, face.blendshapes.shape  # (478, 3), (52,)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from emolab._logging import logger
from emolab.paths import file_sha256

__all__ = [
    "BLENDSHAPE_NAMES",
    "LEFT_EYE_CORNERS",
    "RIGHT_EYE_CORNERS",
    "FaceLandmarker",
    "FaceResult",
    "face_model_path",
    "file_sha256",
]

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_DEFAULT_MODEL = _PACKAGE_DIR / "assets" / "face_landmarker.task"
_MANIFEST = _PACKAGE_DIR / "data_manifest.yaml"

#: The 52 blendshape scores, in the order the model outputs them (index 0 is a "neutral" score,
#: the other 51 are ARKit-style action units such as ``mouthSmileLeft`` or ``browInnerUp``).
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)  # fmt: skip

#: Face-mesh indices of the outer and inner corner of the eye that appears on the image's left
#: (the subject's right eye) and on the image's right.  Eye centres are taken as the mean of the
#: two corners: unlike the iris points, corners do not move with the gaze.
LEFT_EYE_CORNERS: tuple[int, int] = (33, 133)
RIGHT_EYE_CORNERS: tuple[int, int] = (362, 263)


@dataclass
class FaceResult:
    """Landmarks and blendshapes of one face in one image.

    Attributes
    ----------
    landmarks : np.ndarray, float32, shape (478, 3)
        Face-mesh points in pixel coordinates of the input image: ``x`` (column) and ``y`` (row)
        in pixels, ``z`` depth relative to the head centre in the same scale as ``x`` (MediaPipe's
        normalised z times the image width).  Indices 468-477 are the two irises.
    blendshapes : np.ndarray, float32, shape (52,)
        Blendshape scores in [0, 1], named by :data:`BLENDSHAPE_NAMES` (NaN when the landmarker was
        opened with ``blendshapes=False``).
    image_size : tuple of int
        ``(height, width)`` of the image the face was found in.
    """

    BLENDSHAPE_NAMES: ClassVar[tuple[str, ...]] = BLENDSHAPE_NAMES

    landmarks: np.ndarray
    blendshapes: np.ndarray
    image_size: tuple[int, int]

    def eye_centres(self) -> np.ndarray:
        """Return the two eye centres, shape (2, 2): rows image-left eye then image-right eye, (x, y) px."""
        return eye_centres(self.landmarks)

    def blendshape_dict(self) -> dict[str, float]:
        """Return the blendshape scores as ``{name: score}``."""
        return {name: float(v) for name, v in zip(BLENDSHAPE_NAMES, self.blendshapes)}


def eye_centres(landmarks: np.ndarray) -> np.ndarray:
    """Eye centres from a (478, 3) landmark array -> (2, 2) float64 ``[[xl, yl], [xr, yr]]`` px."""
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    return np.stack([pts[list(LEFT_EYE_CORNERS)].mean(0), pts[list(RIGHT_EYE_CORNERS)].mean(0)])


def _manifest_entry() -> dict:
    import yaml

    if not _MANIFEST.is_file():
        raise FileNotFoundError(
            f"{_MANIFEST} is missing: emolab needs it to check the face model; reinstall emolab"
        )
    with open(_MANIFEST, encoding="utf-8") as fh:
        manifest = yaml.safe_load(fh)
    try:
        return manifest["models"]["face_landmarker"]
    except (KeyError, TypeError) as err:
        raise KeyError(f"{_MANIFEST} has no models.face_landmarker entry") from err


def face_model_path(model_path: str | os.PathLike | None = None, *, verify: bool = True) -> Path:
    """Return the path of the Face Landmarker model, after checking its sha256.

    Parameters
    ----------
    model_path : path-like, optional
        A model file to use instead of the one shipped in ``emolab/assets/``.
    verify : bool
        Compare the file's sha256 with ``models.face_landmarker.sha256`` in ``data_manifest.yaml``
        (default).  Pass ``False`` only for a deliberately different model file.

    Raises
    ------
    FileNotFoundError
        The model file does not exist.
    ValueError
        Its sha256 differs from the manifest's (a corrupted or different file); the message names
        the file and both hashes.
    """
    path = Path(model_path).expanduser() if model_path is not None else _DEFAULT_MODEL
    if not path.is_file():
        raise FileNotFoundError(
            f"face model {path} not found; the shipped one is emolab/assets/face_landmarker.task "
            "(reinstall emolab, or see data_manifest.yaml: models.face_landmarker for its source)"
        )
    if verify:
        expected = str(_manifest_entry()["sha256"]).lower()
        actual = file_sha256(path)
        if actual != expected:
            raise ValueError(
                f"face model {path} has sha256 {actual}, but data_manifest.yaml expects {expected}: "
                "the file is corrupted or not the MediaPipe Face Landmarker model emolab ships. "
                "Restore it (reinstall emolab, or re-obtain it as data_manifest.yaml: "
                "models.face_landmarker.source says), or pass verify=False for a deliberate other model."
            )
    return path


@contextlib.contextmanager
def _native_stderr_to_log() -> Iterator[None]:
    """Route what native code writes to file descriptor 2 into ``logger.debug``.

    MediaPipe's C++ side prints glog/TFLite notices ("Created TensorFlow Lite XNNPACK delegate" …)
    straight to fd 2 when a graph is built; they are not errors, so they go to the debug log.
    """
    try:
        fd = 2
        saved = os.dup(fd)
    except OSError:  # no real stderr (some embedded interpreters): nothing to redirect
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace").strip()
            if text:
                logger.debug("mediapipe: %s", text)


class FaceLandmarker:
    """MediaPipe Face Landmarker in IMAGE mode; use it as a context manager.

    Parameters
    ----------
    model_path : path-like, optional
        Model file; default the shipped ``emolab/assets/face_landmarker.task`` (hash-checked by
        :func:`face_model_path`).
    num_faces : int
        Faces the detector may return (MediaPipe's default, 1).  With more than one,
        :meth:`detect` keeps the largest face (a participant in front of the camera).
    min_detection_confidence : float
        Face detector score threshold (MediaPipe's default 0.5); also used as the face-presence
        threshold.
    verify : bool
        Check the model's sha256 against the manifest (default).
    blendshapes : bool
        Also run the blendshape model (default; about 1-2 ms of the ~15-20 ms per frame).  When
        False, ``FaceResult.blendshapes`` is all NaN.

    Notes
    -----
    Close the landmarker (``with`` block or :meth:`close`): an unclosed MediaPipe task prints a
    traceback at interpreter exit.  Inference is about 10-20 ms per 320×240 frame on one CPU
    core; ``benchmarks/bench_face.py`` measures it.
    """

    def __init__(
        self,
        *,
        model_path: str | os.PathLike | None = None,
        num_faces: int = 1,
        min_detection_confidence: float = 0.5,
        verify: bool = True,
        blendshapes: bool = True,
    ) -> None:
        if num_faces < 1:
            raise ValueError(f"num_faces must be >= 1, got {num_faces}")
        self.model_path = face_model_path(model_path, verify=verify)
        self.num_faces = int(num_faces)
        self.min_detection_confidence = float(min_detection_confidence)
        self.blendshapes = bool(blendshapes)
        self._task = None
        self._open()

    def _open(self) -> None:
        with _native_stderr_to_log():
            from mediapipe.tasks.python import vision
            from mediapipe.tasks.python.core.base_options import BaseOptions

            options = vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(self.model_path)),
                running_mode=vision.RunningMode.IMAGE,
                num_faces=self.num_faces,
                min_face_detection_confidence=self.min_detection_confidence,
                min_face_presence_confidence=self.min_detection_confidence,
                output_face_blendshapes=self.blendshapes,
            )
            self._task = vision.FaceLandmarker.create_from_options(options)
            # The first inference builds the XNNPACK delegates and prints more notices.
            self._detect_raw(np.zeros((32, 32, 3), dtype=np.uint8))

    def _detect_raw(self, rgb: np.ndarray):
        import mediapipe as mp

        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        return self._task.detect(image)

    def detect(self, rgb: np.ndarray) -> FaceResult | None:
        """Find the face in one image.

        Parameters
        ----------
        rgb : np.ndarray, uint8, shape (H, W, 3)
            The image in RGB channel order (OpenCV decodes BGR: convert first).

        Returns
        -------
        FaceResult or None
            ``None`` when no face passes the confidence threshold.
        """
        if self._task is None:
            raise RuntimeError("this FaceLandmarker is closed; create a new one")
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(
                f"detect() expects an RGB image of shape (H, W, 3) and dtype uint8, got shape "
                f"{rgb.shape} and dtype {rgb.dtype}"
            )
        result = self._detect_raw(rgb)
        if not result.face_landmarks:
            return None
        h, w = rgb.shape[:2]
        faces = []
        for i, points in enumerate(result.face_landmarks):
            lm = np.array([(p.x, p.y, p.z) for p in points], dtype=np.float32)  # normalised
            lm *= np.array([w, h, w], dtype=np.float32)  # (478, 3) -> pixels
            if result.face_blendshapes:
                bs = np.array([c.score for c in result.face_blendshapes[i]], dtype=np.float32)
            else:  # blendshapes=False
                bs = np.full(len(BLENDSHAPE_NAMES), np.nan, dtype=np.float32)
            faces.append(FaceResult(landmarks=lm, blendshapes=bs, image_size=(h, w)))
        if len(faces) == 1:
            return faces[0]
        areas = [np.ptp(f.landmarks[:, 0]) * np.ptp(f.landmarks[:, 1]) for f in faces]
        return faces[int(np.argmax(areas))]

    def close(self) -> None:
        """Release the MediaPipe graph (idempotent)."""
        if self._task is not None:
            with _native_stderr_to_log():
                self._task.close()
            self._task = None

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; prefer ``with`` or close()
        with contextlib.suppress(Exception):  # never raise from a finaliser
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self._task is None else "open"
        return f"FaceLandmarker(model={self.model_path.name!r}, num_faces={self.num_faces}, {state})"
