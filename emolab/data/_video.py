"""Open a video file just enough to know it is readable (used by the readers and ``verify``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class VideoError(OSError):
    """A face video that is missing, cannot be opened, or has no decodable frame."""


@dataclass
class VideoInfo:
    """What OpenCV reports about a video: frames per second, frame count and size in pixels."""

    path: Path
    fps: float
    n_frames: int
    width: int
    height: int


def probe_video(path: str | Path) -> VideoInfo:
    """Open ``path`` with :class:`cv2.VideoCapture` and decode its first frame.

    Raises
    ------
    VideoError
        The file is missing, OpenCV cannot open it, or no frame decodes (message names the file).
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: video file not found")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(
                f"{path}: OpenCV cannot open this video (corrupt, truncated or an unsupported "
                "codec); copy it again from the dataset archive"
            )
        ok, frame = cap.read()
        if not ok or frame is None:
            raise VideoError(f"{path}: the video opens but no frame can be decoded; copy it again")
        return VideoInfo(
            path=path,
            fps=float(cap.get(cv2.CAP_PROP_FPS)),
            n_frames=int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
            width=int(frame.shape[1]),
            height=int(frame.shape[0]),
        )
    finally:
        cap.release()
