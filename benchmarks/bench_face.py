"""Face pipeline throughput: sampled frames per second, end to end.

End to end = decode the kept frames (grab/retrieve) + MediaPipe landmarks (IMAGE mode) + eye-line
alignment + 64×64 crop + writing each video's windows to a ``.npy`` file, over synthetic 320×240
MJPG videos of a moving real face (scikit-image's astronaut), with 1 and with N worker processes.
It also times the stages on their own so the limiting one is visible.

    python benchmarks/bench_face.py                 # 12 videos × 20 s at 50 fps, 5 fps kept
    python benchmarks/bench_face.py --videos 16 --seconds 20 --fps 10 --jobs 1 2

Goal (issue 4): >= 100 sampled frames/s at 320×240 with 2 workers.  Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def make_video(path: Path, *, seconds: float, video_fps: float, seed: int) -> Path:
    from skimage.data import astronaut

    w, h = 320, 240
    face = cv2.cvtColor(cv2.resize(astronaut(), (w, w)), cv2.COLOR_RGB2BGR)
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, 3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), video_fps, (w, h))
    for i in range(int(seconds * video_fps)):
        m = cv2.getRotationMatrix2D((w / 2, 110), 12 * np.sin(i / 17 + phase[0]), 1.0)
        m[:, 2] += (20 * np.cos(i / 13 + phase[1]), 12 * np.sin(i / 11 + phase[2]) - 20)
        writer.write(cv2.warpAffine(face, m, (w, h), borderMode=cv2.BORDER_REFLECT))
    writer.release()
    return path


def _cpu_s() -> float:
    """CPU seconds used so far by this process and its finished (reaped) children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def end_to_end(videos, *, n_windows, config, n_jobs, out_dir: Path) -> tuple[float, float, int, float]:
    from emolab.preprocess.face import extract_many

    c0 = _cpu_s()
    t0 = time.perf_counter()
    results = extract_many(videos, n_windows=n_windows, config=config, n_jobs=n_jobs, verbose=False)
    for path, fw in zip(videos, results):
        np.save(out_dir / f"{Path(path).stem}_{n_jobs}.npy", fw.frames)
    wall = time.perf_counter() - t0
    cpu = _cpu_s() - c0
    n = sum(fw.stats.n_decoded for fw in results)
    rate = np.mean([fw.stats.detection_rate for fw in results])
    return wall, cpu, n, rate


def stages(video: Path, *, n_windows: int, config) -> dict[str, float]:
    """CPU milliseconds per kept frame of each stage, in this process."""
    from emolab.preprocess.face import align_face, frame_schedule
    from emolab.preprocess.landmarks import FaceLandmarker

    from emolab.preprocess.face import _open_video

    cap = _open_video(video, config.video_backend)
    keep = set(frame_schedule(video_fps=cap.get(cv2.CAP_PROP_FPS), fps=config.fps, n_windows=n_windows).ravel())
    t0 = time.process_time()
    frames, i = [], 0
    while cap.grab():
        if i in keep:
            frames.append(cv2.cvtColor(cap.retrieve()[1], cv2.COLOR_BGR2RGB))
        i += 1
    t_decode = time.process_time() - t0
    cap.release()
    with FaceLandmarker(blendshapes=config.keep_blendshapes) as lm:
        t0 = time.process_time()
        faces = [lm.detect(f) for f in frames]
        t_lm = time.process_time() - t0
    t0 = time.process_time()
    for f, face in zip(frames, faces):
        if face is not None:
            align_face(f, face.landmarks, config)
    t_align = time.process_time() - t0
    n = len(frames)
    return {"decode (grab all, retrieve kept)": 1e3 * t_decode / n, "landmarks": 1e3 * t_lm / n,
            "align + crop": 1e3 * t_align / n}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--video-fps", type=float, default=50.0)
    parser.add_argument("--fps", type=float, default=5.0, help="kept frames per second")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-blendshapes", action="store_true", help="skip the blendshape model")
    args = parser.parse_args()

    from emolab.preprocess.face import FaceConfig

    config = FaceConfig(fps=args.fps, keep_blendshapes=not args.no_blendshapes)
    n_windows = int(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        videos = [make_video(tmp / f"v{i:02d}.avi", seconds=args.seconds, video_fps=args.video_fps, seed=i)
                  for i in range(args.videos)]  # fmt: skip
        print(f"{args.videos} videos, 320x240 MJPG, {args.seconds:g} s at {args.video_fps:g} fps; "
              f"keeping {args.fps:g} fps; {os.cpu_count()} CPUs")  # fmt: skip
        print(f"  load average now: {os.getloadavg()[0]:.2f} (figures below are under that load)")
        for backend in ("ffmpeg", "mjpeg"):
            cfg = FaceConfig(fps=args.fps, video_backend=backend, keep_blendshapes=config.keep_blendshapes)
            for name, ms in stages(videos[0], n_windows=n_windows, config=cfg).items():
                print(f"  stage [{backend:>6s}] {name:<34s} {ms:7.2f} CPU ms per kept frame")
        for n_jobs in args.jobs:
            wall, cpu, n, rate = end_to_end(videos, n_windows=n_windows, config=config, n_jobs=n_jobs, out_dir=tmp)
            print(f"  end to end, {n_jobs} worker(s): {n} frames in {wall:6.2f} s = {n / wall:6.1f} "
                  f"sampled frames/s; {1e3 * cpu / n:5.1f} CPU ms per frame (detection rate "
                  f"{100 * rate:.1f} %; includes opening landmarkers"
                  f"{' and spawning workers' if n_jobs > 1 else ''})")  # fmt: skip
            print(f"    -> on {n_jobs} otherwise idle core(s) this CPU cost allows about "
                  f"{n_jobs * n / cpu:6.1f} frames/s (an estimate from CPU time, not a measurement)")  # fmt: skip


if __name__ == "__main__":
    main()
