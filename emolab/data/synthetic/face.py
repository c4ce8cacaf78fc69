"""A real photographic face, warped frame by frame into expressions driven by the latent state.

The face is scikit-image's ``astronaut()`` (a public-domain NASA portrait shipped inside the
scikit-image wheel, so nothing is downloaded). Expressions are local warps around control points
placed on that portrait's eyes, brows and mouth (coordinates measured once with MediaPipe's face
landmarker and fixed below): each control point moves by a displacement, spread around it by a
Gaussian of radius ``r``, and the frame is resampled with :func:`cv2.remap`.

* valence > 0 -> smile (mouth corners out and up, cheeks raised); valence < 0 -> mouth corners
  down, inner brows lowered;
* arousal > 0 -> brows raised, eyes wider, mouth slightly open, more head motion; arousal < 0 ->
  drooping lids;
* blinks at the EOG blink times; per-subject identity (mirroring, skin tone, framing, face
  proportions) and nuisance (lighting drift, head jitter, sensor noise, MJPG compression), plus
  the trial fingerprint's lighting tint.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from emolab.data.synthetic.config import STREAM_FACE, SubjectParams, SyntheticConfig, rng_for

# Landmarks of skimage.data.astronaut() (512 x 512 px), measured with MediaPipe's face landmarker.
FACE_CENTER = (225.0, 122.0)
FACE_WIDTH_PX = 90.0  # landmark bounding box width
_P = {
    "mouth_l": (202.3, 139.2), "mouth_r": (244.5, 140.6), "lower_lip": (223.0, 149.2),
    "cheek_l": (204.0, 126.0), "cheek_r": (243.0, 127.0),
    "lid_l": (203.0, 99.0), "lid_r": (247.5, 101.5),
    "brow_l": (197.5, 86.6), "brow_r": (254.2, 89.6), "brow_in_l": (212.0, 89.0), "brow_in_r": (236.0, 90.5),
}  # fmt: skip

# Expression units: name -> list of (control point, displacement (dx, dy) in source px, radius px).
EXPRESSIONS: dict[str, list[tuple[str, tuple[float, float], float]]] = {
    "smile": [("mouth_l", (-4.0, -6.0), 8.0), ("mouth_r", (4.0, -6.0), 8.0),
              ("cheek_l", (0.0, -2.5), 8.0), ("cheek_r", (0.0, -2.5), 8.0)],
    "frown": [("mouth_l", (2.0, 7.0), 8.0), ("mouth_r", (-2.0, 7.0), 8.0),
              ("cheek_l", (0.0, 2.5), 8.0), ("cheek_r", (0.0, 2.5), 8.0),
              ("brow_in_l", (2.0, 3.0), 6.0), ("brow_in_r", (-2.0, 3.0), 6.0)],
    "raise": [("brow_l", (0.0, -4.0), 8.0), ("brow_r", (0.0, -4.0), 8.0),
              ("brow_in_l", (0.0, -4.0), 7.0), ("brow_in_r", (0.0, -4.0), 7.0),
              ("lid_l", (0.0, -1.5), 4.0), ("lid_r", (0.0, -1.5), 4.0), ("lower_lip", (0.0, 3.0), 6.0)],
    "droop": [("lid_l", (0.0, 2.0), 4.5), ("lid_r", (0.0, 2.0), 4.5)],
    "blink": [("lid_l", (0.0, 6.0), 4.5), ("lid_r", (0.0, 6.0), 4.5)],
    # per-subject face proportions (identity), applied with a per-subject signed coefficient
    "wide_mouth": [("mouth_l", (-3.0, 0.0), 9.0), ("mouth_r", (3.0, 0.0), 9.0)],
    "high_brows": [("brow_l", (0.0, -3.0), 9.0), ("brow_r", (0.0, -3.0), 9.0)],
}  # fmt: skip
_UNITS = list(EXPRESSIONS)


@lru_cache(maxsize=1)
def face_image() -> np.ndarray:
    """The astronaut portrait, (512, 512, 3) float32 RGB in [0, 255]."""
    from skimage import data

    return data.astronaut().astype(np.float32)


class FaceRenderer:
    """Renders frames of one subject's face: ``render(...) -> (n, H, W, 3) uint8 RGB``."""

    def __init__(self, cfg: SyntheticConfig, sp: SubjectParams) -> None:
        self.cfg, self.sp = cfg, sp
        self.w, self.h = cfg.video_size
        # output -> source affine: the landmark box covers ~45 % of the frame width
        self.scale = 0.45 * self.w / FACE_WIDTH_PX * sp.zoom  # output px per source px
        ys, xs = np.mgrid[0 : self.h, 0 : self.w].astype(np.float32)
        self.xo = xs - self.w / 2 - sp.shift[0] * self.w  # (H, W) output coordinates, centred
        self.yo = ys - self.h / 2 - sp.shift[1] * self.h
        x0, y0 = self._to_source(0.0, 0.0, 0.0)
        # Gaussian footprint of every control point of every unit, at the un-jittered grid
        self.basis = {}  # unit -> (2, H, W) displacement field for coefficient 1
        for name, items in EXPRESSIONS.items():
            field = np.zeros((2, self.h, self.w), np.float32)
            for point, (dx, dy), r in items:
                cx, cy = _P[point]
                phi = np.exp(-((x0 - cx) ** 2 + (y0 - cy) ** 2) / (2 * r**2))
                field[0] += dx * phi
                field[1] += dy * phi
            self.basis[name] = field
        self.identity = {"wide_mouth": sp.geometry[0], "high_brows": sp.geometry[1]}
        self.image = np.clip(face_image() * np.asarray(sp.tone, np.float32), 0, 255)
        self.ramp = np.linspace(-0.5, 0.5, self.w, dtype=np.float32)[None, :, None]  # (1, W, 1)

    def _to_source(self, theta: float, tx: float, ty: float) -> tuple[np.ndarray, np.ndarray]:
        """Source coordinates (H, W) of every output pixel for head roll ``theta`` (rad) and shift."""
        tx, ty = np.float32(tx), np.float32(ty)
        xo = -(self.xo - tx) if self.sp.mirror else self.xo - tx
        yo = self.yo - ty
        c, s = np.cos(theta), np.sin(theta)
        a, b = np.float32(1.0 / (self.scale * self.sp.aspect)), np.float32(1.0 / self.scale)
        c, s = np.float32(c), np.float32(s)
        xs = (c * a) * xo + (s * a) * yo + np.float32(FACE_CENTER[0])
        ys = (-s * b) * xo + (c * b) * yo + np.float32(FACE_CENTER[1])
        return xs, ys

    def render(
        self,
        *,
        times_s: np.ndarray,
        valence: float,
        arousal: float,
        onset_s: float,
        offset_s: float,
        blinks: np.ndarray,
        fingerprint: dict,
        experiment_id: int,
        seed: int,
    ) -> np.ndarray:
        """Frames at recording times ``times_s`` (s from the start of the recording).

        Returns (n_frames, H, W, 3) uint8 RGB. ``blinks`` is (k, 2) onset/duration in seconds on
        the same clock, so blinks on the video coincide with those in vEOG.
        """
        import cv2

        cfg, sp = self.cfg, self.sp
        rng = rng_for(seed, STREAM_FACE, sp.subject, experiment_id)
        times_s = np.asarray(times_s, np.float64)
        n = times_s.size
        # emotional drive, ramping in after the stimulus onset like the physiology
        env = np.clip((times_s - onset_s) / 2.0, 0, 1) * (times_s < offset_s + 2.0)
        fv = cfg.face_valence * sp.expressiveness * valence * env
        fa = cfg.face_arousal * sp.expressiveness * arousal * env
        wobble = 1.0 + 0.15 * np.sin(2 * np.pi * times_s / rng.uniform(3.0, 6.0) + rng.uniform(0, 6.3))
        closure = np.zeros(n)
        for start, dur in blinks:
            inside = (times_s >= start) & (times_s < start + dur)
            closure[inside] = np.maximum(closure[inside], np.sin(np.pi * (times_s[inside] - start) / dur) ** 2)
        closure = np.clip(1.6 * closure, 0, 1)  # lids fully shut for the middle of the blink
        coef = {
            "smile": np.clip(fv, 0, None) * wobble, "frown": np.clip(-fv, 0, None) * wobble,
            "raise": np.clip(fa, 0, None) * wobble, "droop": np.clip(-fa, 0, None), "blink": closure,
        }  # fmt: skip
        # head motion: smooth random walks, more energetic with arousal
        motion = 1.0 + 1.5 * np.clip(fa, 0, None)
        walk = np.cumsum(rng.normal(0, 1, (n, 3)), axis=0)
        walk -= np.linspace(0, 1, n)[:, None] * walk[-1:]
        walk /= np.maximum(np.abs(walk).max(0), 1e-6)
        jitter = walk * np.array([np.deg2rad(3.0), 2.0, 1.5]) + rng.normal(0, 1, (n, 3)) * np.array([0.01, 0.4, 0.4])
        jitter *= motion[:, None]
        # slow lighting drifts whose phase is drawn per trial (trial_nuisance scales them)
        nuisance = cfg.trial_nuisance
        drift = 1.0 + 0.1 * nuisance * np.sin(2 * np.pi * times_s / rng.uniform(15, 40) + rng.uniform(0, 6.3))
        tilt = 0.2 * nuisance * np.sin(2 * np.pi * times_s / rng.uniform(20, 60) + rng.uniform(0, 6.3))
        gain = (np.asarray(fingerprint["tint"]) * fingerprint["light"]).astype(np.float32)[None, None, :]

        names = list(coef)
        basis = np.stack([self.basis[k] for k in names]).reshape(len(names), -1)  # (K, 2*H*W)
        coefs = np.stack([coef[k] for k in names], axis=1).astype(np.float32)  # (n, K)
        static = sum(float(v) * self.basis[k] for k, v in self.identity.items()).reshape(-1).astype(np.float32)
        noise = rng.standard_normal((8, self.h, self.w, 3), dtype=np.float32) * 1.5  # a small bank
        pick = rng.integers(0, len(noise), size=n)
        # the bank is reused within the trial (a per-trial nuisance); below full strength part of
        # each frame's noise is drawn afresh, with the same total variance
        bank_weight = float(np.clip(nuisance, 0.0, 1.0))
        fresh = None if bank_weight == 1.0 else rng_for(seed, STREAM_FACE, sp.subject, experiment_id, 1)
        frames = np.empty((n, self.h, self.w, 3), np.uint8)
        for i in range(n):
            field = (static + coefs[i] @ basis).reshape(2, self.h, self.w)  # (2, H, W) source px
            xs, ys = self._to_source(*jitter[i])
            img = cv2.remap(self.image, xs - field[0], ys - field[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            light = (drift[i] * (1.0 + tilt[i] * self.ramp)) * gain  # (H, W, 3)
            img *= light
            if fresh is None:
                img += noise[pick[i]]  # sensor noise
            else:
                new_noise = fresh.standard_normal((self.h, self.w, 3), dtype=np.float32) * 1.5
                img += np.sqrt(bank_weight) * noise[pick[i]] + np.sqrt(1.0 - bank_weight) * new_noise
            np.clip(img, 0, 255, out=img)
            frames[i] = img
        return frames


def write_avi(path, frames: np.ndarray, *, fps: float) -> None:
    """Write (n, H, W, 3) uint8 RGB frames as an MJPG AVI (deterministic bytes for equal frames)."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), float(fps), (w, h))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot open {path} for writing an MJPG AVI; check the folder is writable")
    try:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))  # RGB -> BGR
    finally:
        writer.release()
