"""The knobs of the synthetic dataset, its presets, and the per-subject / per-trial design.

Everything random is drawn from :class:`numpy.random.SeedSequence` keyed by
``(seed, stream, subject, experiment_id)``, so one trial's data does not depend on which other
subjects or trials are generated alongside it (a subset of a preset is a subset of its files).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import pandas as pd

# Bump whenever the generator's output changes for the same parameters: it is part of the cache
# folder's hash, so a newer emolab never reuses files written by an older generator.
GENERATOR_VERSION = 1

# Streams of random numbers (one per purpose, so that changing one knob does not reshuffle others).
STREAM_DESIGN, STREAM_SUBJECT, STREAM_TRIAL, STREAM_PHYSIO, STREAM_FACE = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class SyntheticConfig:
    """Everything that decides the synthetic dataset (all defaults are ours, none from a paper).

    Sizes
    -----
    n_subjects, n_trials : number of participants and of trials (videos) per participant.
    trial_s : stimulus length in seconds (DEAP: 60).
    baseline_s : pre-stimulus rest recorded before each trial (DEAP: 3 s; MAHNOB: 30 s).
    post_s : MAHNOB only: recording kept after the stimulus (real: 30 s).
    video_fps, video_size : face video frame rate and (width, height) in pixels.
    face_subjects : participants 1..face_subjects have face videos (DEAP: 22).
    missing_videos : ``(subject, trial)`` pairs whose video is left out (trial = presentation
        order), as some are in the real DEAP.

    Knobs (what a learner turns)
    ----------------------------
    face_valence, face_arousal : how strongly the face carries valence / arousal (0 = not at all).
        Default: face mostly valence (smile / frown), a little arousal (eyes, brows, head motion).
    physio_valence, physio_arousal : the same for the physiological channels (valence: frontal
        alpha asymmetry, zygomatic EMG; arousal: beta/gamma power, GSR, heart and breathing rate,
        trapezius EMG). Default: physiology mostly arousal, so fusing both has something to gain.
    expressiveness_sd : spread (log-normal sigma) of per-subject facial expressiveness; with the
        default some subjects barely move their face.
    physio_gain_sd : spread (log-normal sigma) of per-subject physiological reactivity.
    fingerprint : strength of the trial-constant signature (EEG spectral tilt and channel gains,
        peripheral offsets, a lighting tint on the face). It carries no information about the
        emotion, but lets a model recognise *which trial* a segment comes from, so protocols that
        put segments of one trial in both train and test look better than they are. 0 = none.
    label_noise : standard deviation of the self-assessment noise, in rating points (1-9 scale).
    eog_leak : how much of the EOG (blinks, saccades) leaks into frontal EEG channels.
    """

    n_subjects: int = 4
    n_trials: int = 10
    trial_s: float = 20.0
    baseline_s: float = 3.0
    post_s: float = 2.0
    video_fps: float = 10.0
    video_size: tuple[int, int] = (160, 120)
    face_subjects: int = 4
    missing_videos: tuple[tuple[int, int], ...] = ()
    face_valence: float = 1.0
    face_arousal: float = 0.3
    physio_valence: float = 0.3
    physio_arousal: float = 1.0
    expressiveness_sd: float = 0.5
    physio_gain_sd: float = 0.3
    fingerprint: float = 1.0
    label_noise: float = 0.5
    eog_leak: float = 0.15

    def __post_init__(self) -> None:
        if self.n_subjects < 1 or self.n_trials < 1:
            raise ValueError("n_subjects and n_trials must be at least 1")
        if self.trial_s <= 0 or self.baseline_s < 0:
            raise ValueError("trial_s must be > 0 and baseline_s >= 0")
        for name in ("expressiveness_sd", "physio_gain_sd", "fingerprint", "label_noise", "eog_leak"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        # tuples survive asdict/json round trips as lists; normalise them
        object.__setattr__(self, "video_size", tuple(int(v) for v in self.video_size))
        object.__setattr__(
            self, "missing_videos", tuple((int(s), int(t)) for s, t in self.missing_videos)
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SyntheticConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise TypeError(f"unknown synthetic knob(s) {sorted(unknown)}; known: {sorted(names)}")
        return cls(**d)

    def short_hash(self, *, fmt: str, seed: int) -> str:
        """A 10-character hash of every parameter and the generator version (names the cache folder)."""
        blob = json.dumps({"fmt": fmt, "seed": seed, "generator": GENERATOR_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]


# Presets: `smoke` is what the book runs in CI; `deap` has DEAP's real sizes.
PRESETS: dict[str, dict[str, dict]] = {
    "deap": {
        "smoke": dict(n_subjects=4, n_trials=10, trial_s=20.0, baseline_s=3.0, face_subjects=4),
        # what the book's CI profile runs (ours): enough subjects for an interval over subjects
        # and enough short trials for trial-grouped folds, on two CPU cores
        "book": dict(n_subjects=6, n_trials=12, trial_s=6.0, baseline_s=3.0, face_subjects=6,
                     expressiveness_sd=0.25),
        # DEAP: 32 x 40 trials of 60 s after a 3 s baseline (8064 samples at 128 Hz); face videos
        # for participants 1-22 at DEAP's 50 fps, with a few trials missing (ours: s03 trial 40,
        # s11 trials 2 and 17)
        "deap": dict(
            n_subjects=32, n_trials=40, trial_s=60.0, baseline_s=3.0, face_subjects=22,
            missing_videos=((3, 40), (11, 2), (11, 17)), video_fps=50.0,
        ),
    },
    "mahnob": {
        "smoke": dict(n_subjects=2, n_trials=4, trial_s=20.0, baseline_s=5.0, post_s=2.0, face_subjects=2),
        "book": dict(n_subjects=6, n_trials=12, trial_s=6.0, baseline_s=5.0, post_s=2.0, face_subjects=6,
                     expressiveness_sd=0.25),
        # MAHNOB-HCI emotion sessions: 30 s before and after clips of about 35-117 s; we use 60 s;
        # video at about MAHNOB-HCI's 60 fps (GBV-Net keeps 12 of them per second)
        "deap": dict(n_subjects=27, n_trials=20, trial_s=60.0, baseline_s=30.0, post_s=30.0, face_subjects=27,
                     video_fps=60.0),
    },
}  # fmt: skip


def make_config(*, fmt: str = "deap", preset: str = "smoke", **knobs) -> SyntheticConfig:
    """Return the :class:`SyntheticConfig` of a preset with some knobs changed."""
    if fmt not in PRESETS:
        raise ValueError(f"unknown format {fmt!r}; use one of {sorted(PRESETS)}")
    if preset not in PRESETS[fmt]:
        raise ValueError(f"unknown preset {preset!r}; use one of {sorted(PRESETS[fmt])}")
    base = SyntheticConfig(**PRESETS[fmt][preset])
    try:
        return replace(base, **knobs)
    except TypeError as exc:
        names = sorted(f.name for f in fields(SyntheticConfig))
        raise TypeError(f"{exc}; the knobs of SyntheticConfig are {names}") from None


def rng_for(seed: int, stream: int, *keys: int) -> np.random.Generator:
    """An independent generator for one (seed, stream, subject, trial …) combination."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(stream), *map(int, keys)]))


@dataclass(frozen=True)
class SubjectParams:
    """Per-subject traits (drawn once per subject)."""

    subject: int
    expressiveness: float  # multiplies facial expression amplitude
    physio_gain: float  # multiplies physiological reactions
    alpha_freq: float  # individual alpha peak (Hz)
    heart_rate: float  # resting heart rate (beats/min)
    resp_rate: float  # resting breathing rate (breaths/min)
    gsr_level: float  # tonic skin conductance (µS)
    temperature: float  # skin temperature (°C)
    blink_rate: float  # blinks per minute at rest
    eeg_gain: tuple[float, ...] = field(default_factory=tuple)  # per EEG channel (electrode impedance)
    # face identity
    mirror: bool = False
    tone: tuple[float, float, float] = (1.0, 1.0, 1.0)  # RGB multipliers (skin tone, white balance)
    zoom: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)  # framing offset, fraction of the frame
    aspect: float = 1.0  # face width / height stretch
    geometry: tuple[float, float] = (0.0, 0.0)  # face proportions: mouth width, brow height (-1..1)


def subject_params(cfg: SyntheticConfig, *, seed: int, subject: int) -> SubjectParams:
    rng = rng_for(seed, STREAM_SUBJECT, subject)
    return SubjectParams(
        subject=subject,
        expressiveness=float(np.exp(rng.normal(0.0, cfg.expressiveness_sd))),
        physio_gain=float(np.exp(rng.normal(0.0, cfg.physio_gain_sd))),
        alpha_freq=float(rng.uniform(9.0, 11.5)),
        heart_rate=float(rng.uniform(60.0, 80.0)),
        resp_rate=float(rng.uniform(12.0, 18.0)),
        gsr_level=float(rng.uniform(2.0, 10.0)),
        temperature=float(rng.uniform(30.0, 34.0)),
        blink_rate=float(rng.uniform(10.0, 20.0)),
        eeg_gain=tuple(np.exp(rng.normal(0.0, 0.1, size=32)).round(6).tolist()),
        mirror=bool(rng.random() < 0.5),
        tone=_tone(rng),
        zoom=float(rng.uniform(0.9, 1.1)),
        shift=tuple(rng.uniform(-0.06, 0.06, size=2).round(4).tolist()),
        aspect=float(rng.uniform(0.92, 1.08)),
        geometry=tuple(rng.uniform(-1.0, 1.0, size=2).round(4).tolist()),
    )


def _tone(rng) -> tuple[float, float, float]:
    """RGB multipliers: overall brightness (darker / lighter skin, exposure) and warmth."""
    brightness, warmth = rng.uniform(0.65, 1.1), rng.uniform(-0.06, 0.1)
    return tuple(round(float(brightness * m), 4) for m in (1 + warmth, 1.0, 1 - warmth))


def stimulus_latents(n_trials: int, *, seed: int) -> pd.DataFrame:
    """Intended valence/arousal of each stimulus video, in [-1, 1], one row per Experiment_id.

    Like DEAP's selection the videos cover the four quadrants of the valence-arousal plane in
    turn (HAHV, LAHV, LALV, HALV), so binary labels come out roughly balanced.
    """
    rng = rng_for(seed, STREAM_DESIGN, 0)
    quadrants = np.array([(1, 1), (1, -1), (-1, -1), (-1, 1)])  # (valence sign, arousal sign)
    signs = quadrants[np.arange(n_trials) % 4]
    mags = rng.uniform(0.25, 1.0, size=(n_trials, 2))
    return pd.DataFrame(
        {
            "experiment_id": np.arange(1, n_trials + 1),
            "stim_valence": signs[:, 0] * mags[:, 0],
            "stim_arousal": signs[:, 1] * mags[:, 1],
        }
    )


def design(cfg: SyntheticConfig, *, seed: int) -> pd.DataFrame:
    """The ground-truth table: one row per subject x trial with latents, ratings and knobs.

    Columns: subject, experiment_id, trial (presentation order, 1-based), valence, arousal
    (felt latent state in [-1, 1]), rating_valence/arousal/dominance/liking/familiarity (1-9 as
    the participant reports them, with ``label_noise``), expressiveness, physio_gain,
    has_video, and the knob values.
    """
    stim = stimulus_latents(cfg.n_trials, seed=seed)
    rows = []
    for subject in range(1, cfg.n_subjects + 1):
        sp = subject_params(cfg, seed=seed, subject=subject)
        rng = rng_for(seed, STREAM_DESIGN, subject)
        order = rng.permutation(cfg.n_trials) + 1  # order[k] = experiment id shown k-th
        trial_of = {int(eid): k + 1 for k, eid in enumerate(order)}
        for _, st in stim.iterrows():
            eid = int(st.experiment_id)
            # felt state = the video's intended state, individually perceived
            val = float(np.clip(st.stim_valence * rng.uniform(0.7, 1.1) + rng.normal(0, 0.15), -1, 1))
            aro = float(np.clip(st.stim_arousal * rng.uniform(0.7, 1.1) + rng.normal(0, 0.15), -1, 1))
            noise = rng.normal(0.0, cfg.label_noise, size=4)
            dom = 5 + 2.5 * val * 0.5 + rng.normal(0, 1.0)
            lik = 5 + 3.5 * val + rng.normal(0, 1.0)
            trial = trial_of[eid]
            rows.append(
                dict(
                    subject=subject, experiment_id=eid, trial=trial, valence=val, arousal=aro,
                    rating_valence=_rating(5 + 3.8 * val + noise[0]),
                    rating_arousal=_rating(5 + 3.8 * aro + noise[1]),
                    rating_dominance=_rating(dom + noise[2]),
                    rating_liking=_rating(lik + noise[3]),
                    rating_familiarity=float(rng.integers(1, 6)),
                    expressiveness=sp.expressiveness, physio_gain=sp.physio_gain,
                    has_video=bool(subject <= cfg.face_subjects and (subject, trial) not in cfg.missing_videos),
                )
            )  # fmt: skip
    df = pd.DataFrame(rows)
    for name in ("face_valence", "face_arousal", "physio_valence", "physio_arousal", "fingerprint", "label_noise"):
        df[name] = getattr(cfg, name)
    return df


def _rating(x: float) -> float:
    """Clip to the 1-9 scale and round to 2 decimals (DEAP's ratings are continuous)."""
    return float(np.round(np.clip(x, 1.0, 9.0), 2))
