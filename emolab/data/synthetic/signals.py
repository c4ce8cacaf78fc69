"""Synthetic physiological signals of one trial: EEG, EOG, EMG, GSR, respiration, pulse, temperature.

What a teacher should recognise (all effect sizes are ours, chosen to be visible, not measured):

* EEG (32 channels at their 10-20 positions, in µV): a 1/f background; a posterior alpha rhythm at
  the subject's alpha frequency that weakens with arousal; frontal alpha asymmetry with valence
  (positive valence -> less alpha over the left frontal electrodes F3/AF3/F7 than over the right,
  the classic approach/withdrawal finding :cite:`davidson1992anterior`); beta/gamma (14-45 Hz)
  power rising with arousal. Every source is spread over neighbouring electrodes by a Gaussian
  kernel of their distance, so topographies are smooth. Blinks and saccades leak into frontal
  channels, so EOG removal matters.
* hEOG / vEOG (µV): saccade steps and blinks (a blink is also drawn on the face video at the same
  time).
* zEMG / tEMG (µV): 20-60 Hz bursts; zygomatic with positive valence, trapezius with arousal.
* GSR (skin conductance, µS): tonic level + phasic responses, both rising with arousal.
* Resp (belt, arbitrary units), Plet (blood-volume pulse, arbitrary units) and ECG (µV, MAHNOB):
  breathing and heart rate rising with arousal.
* Temp (°C): a slope drawn per trial (``trial_nuisance`` scales it, as it scales the slow
  per-trial envelope of the tonic skin conductance).

During the pre-stimulus baseline the emotional effects are off; they ramp in over the first two
seconds of the stimulus.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from emolab.data.channels import EEG_CH_NAMES
from emolab.data.synthetic.config import (
    STREAM_PHYSIO,
    STREAM_TRIAL,
    SubjectParams,
    SyntheticConfig,
    rng_for,
)


@dataclass
class PhysioSim:
    """All simulated channels of one trial, sampled at ``sfreq``; index 0 = start of the baseline.

    ``eeg`` (32, n) µV; ``heog``, ``veog``, ``zemg``, ``temg`` (n,) µV; ``gsr`` (n,) µS;
    ``resp``, ``plet`` (n,) a.u.; ``ecg`` (3, n) µV; ``temp`` (n,) °C; ``blinks`` (k, 2) onset and
    duration in seconds from the start of the recording; ``onset_sample`` = first stimulus sample.
    """

    sfreq: float
    onset_sample: int
    eeg: np.ndarray
    heog: np.ndarray
    veog: np.ndarray
    zemg: np.ndarray
    temg: np.ndarray
    gsr: np.ndarray
    resp: np.ndarray
    plet: np.ndarray
    ecg: np.ndarray
    temp: np.ndarray
    blinks: np.ndarray

    def deap_array(self) -> np.ndarray:
        """The 40 DEAP channels in file order, float64 (40, n)."""
        rows = [self.eeg, self.heog[None], self.veog[None], self.zemg[None], self.temg[None],
                self.gsr[None], self.resp[None], self.plet[None], self.temp[None]]  # fmt: skip
        return np.concatenate(rows, axis=0).astype(np.float64)


@lru_cache(maxsize=1)
def eeg_positions() -> np.ndarray:
    """(32, 3) electrode positions in metres (x right, y front, z up) from MNE's standard_1020."""
    import mne

    # MNE >= 1.13 renamed the template 'standard_1020' to 'colin27_1020' (same positions)
    name = "colin27_1020" if "colin27_1020" in mne.channels.get_builtin_montages() else "standard_1020"
    pos = mne.channels.make_standard_montage(name).get_positions()["ch_pos"]
    return np.array([pos[name] for name in EEG_CH_NAMES], dtype=np.float64)


@lru_cache(maxsize=1)
def spatial_mixing(sigma_m: float = 0.035) -> np.ndarray:
    """(32, 32) Gaussian smoothing over electrode distance, rows scaled to unit energy."""
    p = eeg_positions()
    d2 = ((p[:, None, :] - p[None, :, :]) ** 2).sum(-1)
    w = np.exp(-d2 / (2 * sigma_m**2))
    return w / np.sqrt((w**2).sum(1, keepdims=True))


def _gauss_weights(center: str, sigma_m: float) -> np.ndarray:
    p = eeg_positions()
    c = p[EEG_CH_NAMES.index(center)]
    return np.exp(-((p - c) ** 2).sum(1) / (2 * sigma_m**2))


def _spectral_noise(rng, n_rows: int, n: int, sfreq: float, shape) -> np.ndarray:
    """Noise with amplitude spectrum ``shape(f)``, each row scaled to unit RMS. (n_rows, n)."""
    f = np.fft.rfftfreq(n, d=1.0 / sfreq)
    spec = rng.normal(size=(n_rows, f.size)) + 1j * rng.normal(size=(n_rows, f.size))
    x = np.fft.irfft(spec * shape(f)[None], n=n)
    return x / (x.std(axis=1, keepdims=True) + 1e-12)


def _smooth_envelope(rng, n: int, sfreq: float, *, cutoff_hz: float = 0.5, depth: float = 0.3) -> np.ndarray:
    """Slowly varying positive envelope around 1: ``exp(depth * low-passed unit noise)``."""
    df = sfreq / n  # frequency resolution: keep at least two bins above 0 Hz
    lp = _spectral_noise(rng, 1, n, sfreq, lambda f: ((f > 0) & (f <= max(cutoff_hz, 2 * df))).astype(float))[0]
    return np.exp(depth * lp)


def _bursts(rng, n: int, sfreq: float, *, duty: float) -> np.ndarray:
    """Smooth on/off envelope in [0, 1] that is on about ``duty`` of the time."""
    lp = _spectral_noise(rng, 1, n, sfreq, lambda f: ((f > 0) & (f < 0.7)).astype(float))[0]
    thr = np.quantile(lp, 1 - np.clip(duty, 0.0, 1.0)) if duty > 0 else np.inf
    return 1.0 / (1.0 + np.exp(-(lp - thr) * 6.0))


def effect_envelope(n: int, *, sfreq: float, onset: int, offset: int, ramp_s: float = 2.0) -> np.ndarray:
    """0 before the stimulus, rising to 1 over ``ramp_s`` after onset, back to 0 after offset."""
    t = np.arange(n)
    env = np.clip((t - onset) / max(ramp_s * sfreq, 1.0), 0.0, 1.0)
    env[t >= offset] = np.clip(1.0 - (t[t >= offset] - offset) / (ramp_s * sfreq), 0.0, 1.0)
    return env


def trial_fingerprint(cfg: SyntheticConfig, *, seed: int, subject: int, experiment_id: int) -> dict:
    """The trial-constant signature (carries no emotion): EEG tilt and gains, offsets, face tint."""
    rng = rng_for(seed, STREAM_TRIAL, subject, experiment_id)
    s = cfg.fingerprint
    return {
        "tilt": float(rng.normal(0.0, 0.4) * s),  # change of the 1/f exponent
        "eeg_gain": np.exp(rng.normal(0.0, 0.4, size=32) * s),  # per-channel gain (electrode contact)
        "gsr_offset": float(rng.normal(0.0, 0.15) * s),  # relative tonic conductance offset
        "temp_offset": float(rng.normal(0.0, 0.3) * s),  # °C
        "resp_gain": float(np.exp(rng.normal(0.0, 0.2) * s)),
        "plet_gain": float(np.exp(rng.normal(0.0, 0.2) * s)),
        "emg_gain": np.exp(rng.normal(0.0, 0.25, size=2) * s),
        "tint": np.exp(rng.normal(0.0, 0.06, size=3) * s),  # RGB lighting tint of the video
        "light": float(np.exp(rng.normal(0.0, 0.1) * s)),  # overall brightness
    }


def simulate_physio(
    cfg: SyntheticConfig,
    sp: SubjectParams,
    *,
    valence: float,
    arousal: float,
    experiment_id: int,
    seed: int,
    sfreq: float,
    n_pre: int,
    n_stim: int,
    n_post: int = 0,
) -> PhysioSim:
    """Simulate every physiological channel of one trial (``n_pre + n_stim + n_post`` samples).

    ``valence`` and ``arousal`` are the felt latent state in [-1, 1]; the physiological drive is
    ``physio_valence * physio_gain * valence`` (and the same for arousal).
    """
    rng = rng_for(seed, STREAM_PHYSIO, sp.subject, experiment_id, int(sfreq))
    fp = trial_fingerprint(cfg, seed=seed, subject=sp.subject, experiment_id=experiment_id)
    n = n_pre + n_stim + n_post
    t = np.arange(n) / sfreq
    env = effect_envelope(n, sfreq=sfreq, onset=n_pre, offset=n_pre + n_stim)
    pv = cfg.physio_valence * sp.physio_gain * valence * env  # (n,) valence drive
    pa = cfg.physio_arousal * sp.physio_gain * arousal * env  # (n,) arousal drive
    mix = spatial_mixing()
    pos = eeg_positions()

    # --- EEG (32, n), µV -------------------------------------------------------------------
    beta = 1.6 + fp["tilt"]
    hp = lambda f: (f >= 0.5) * np.maximum(f, 0.5) ** (-beta / 2)  # noqa: E731  1/f^beta power
    background = 8.0 * mix @ _spectral_noise(rng, 32, n, sfreq, hp)
    alpha_shape = lambda f: np.exp(-((f - sp.alpha_freq) ** 2) / (2 * 0.8**2))  # noqa: E731
    alpha = _spectral_noise(rng, 3, n, sfreq, alpha_shape) * _smooth_envelope(rng, n, sfreq)
    w_post = 1.0 / (1.0 + np.exp((pos[:, 1] + 0.03) / 0.015))  # posterior electrodes (y < 0)
    posterior = np.outer(w_post, 10.0 * (1.0 - 0.3 * np.clip(pa, -1, 1)) * alpha[0])
    w_left, w_right = _gauss_weights("F3", 0.035), _gauss_weights("F4", 0.035)
    asym = 0.5 * np.clip(pv, -1, 1)  # positive valence -> less left alpha (left activation)
    frontal = np.outer(w_left, 5.0 * (1 - asym) * alpha[1]) + np.outer(w_right, 5.0 * (1 + asym) * alpha[2])
    fast_shape = lambda f: ((f >= 14) & (f <= 45)).astype(float)  # noqa: E731
    fast = 3.0 * (1.0 + 0.5 * np.clip(pa, -1, 1)) * (mix @ _spectral_noise(rng, 32, n, sfreq, fast_shape))
    eeg = background + posterior + frontal + fast

    # --- EOG: saccades (hEOG steps) and blinks (vEOG pulses), µV ------------------------------
    heog, veog = np.zeros(n), np.zeros(n)
    k = 0
    while k < n:  # fixations of random length, gaze jumps between them
        dur = int(max(rng.exponential(0.9), 0.15) * sfreq)
        heog[k : k + dur] = rng.normal(0.0, 60.0)
        veog[k : k + dur] = rng.normal(0.0, 20.0)
        k += dur
    kern = np.ones(max(int(0.03 * sfreq), 1)) / max(int(0.03 * sfreq), 1)
    heog, veog = np.convolve(heog, kern, "same"), np.convolve(veog, kern, "same")
    blink_rate = sp.blink_rate * (1 + 0.3 * np.clip(pa, -1, 1))  # per minute, (n,)
    blinks = []
    k = int(rng.exponential(60.0 / sp.blink_rate) * sfreq * 0.5)
    while k < n:
        dur_s = rng.uniform(0.2, 0.4)
        m = int(dur_s * sfreq)
        shape = np.sin(np.linspace(0, np.pi, m)) ** 2 * rng.uniform(150.0, 300.0)
        veog[k : k + m] += shape[: n - k]
        blinks.append((k / sfreq, dur_s))
        k += int(max(rng.exponential(60.0 / blink_rate[k]), 0.5) * sfreq)
    heog += rng.normal(0.0, 4.0, n)
    veog += rng.normal(0.0, 4.0, n)
    front = np.exp(-((pos - np.array([0.0, 0.1, 0.0])) ** 2).sum(1) / (2 * 0.045**2))
    eeg += cfg.eog_leak * (np.outer(front, veog) + np.outer(front * pos[:, 0] / 0.07, heog))
    eeg *= (np.asarray(sp.eeg_gain) * fp["eeg_gain"])[:, None]

    # --- EMG bursts (20-60 Hz), µV ------------------------------------------------------------
    emg_shape = lambda f: ((f >= 20) & (f <= 60)).astype(float)  # noqa: E731
    emg = _spectral_noise(rng, 2, n, sfreq, emg_shape)
    smile = _bursts(rng, n, sfreq, duty=0.4) * np.clip(pv, 0, None)
    tense = _bursts(rng, n, sfreq, duty=0.4) * np.clip(pa + 0.2, 0, None)
    zemg = 2.0 * fp["emg_gain"][0] * (1 + 6.0 * smile) * emg[0]
    temg = 3.0 * fp["emg_gain"][1] * (1 + 4.0 * tense) * emg[1]

    # --- GSR: tonic + phasic skin conductance responses, µS -----------------------------------
    drift = _smooth_envelope(rng, n, sfreq, cutoff_hz=0.02, depth=0.05 * cfg.trial_nuisance)  # per trial
    tonic = sp.gsr_level * (1 + fp["gsr_offset"]) * (1 + 0.2 * pa) * drift
    phasic = np.zeros(n)
    tt = np.arange(int(10 * sfreq)) / sfreq
    scr = np.exp(-tt / 2.0) - np.exp(-tt / 0.75)
    scr /= scr.max()
    k = 0
    while k < n:
        rate = 2.0 + 4.0 * np.clip(1.0 + pa[k], 0, 2)  # responses per minute
        k += int(max(rng.exponential(60.0 / rate), 1.0) * sfreq)
        if k >= n:
            break
        amp = rng.uniform(0.2, 1.0) * (1 + max(pa[k], 0.0))  # µS
        m = min(scr.size, n - k)
        phasic[k : k + m] += amp * scr[:m]
    gsr = tonic + phasic + rng.normal(0.0, 0.005, n)

    # --- heart (Plet, ECG) and breathing (Resp) -----------------------------------------------
    resp_rate = sp.resp_rate * (1 + 0.25 * pa) / 60.0  # Hz, (n,)
    resp_phase = 2 * np.pi * np.cumsum(resp_rate) / sfreq + rng.uniform(0, 2 * np.pi)
    depth = (1 + 0.2 * pa) * fp["resp_gain"]
    resp = 600.0 * depth * (np.sin(resp_phase) + 0.2 * np.sin(2 * resp_phase)) + rng.normal(0, 10, n)
    hr = sp.heart_rate * (1 + 0.15 * pa) + 2.0 * np.sin(resp_phase) + 1.5 * np.sin(2 * np.pi * 0.1 * t)
    beat = np.cumsum(hr / 60.0) / sfreq + rng.uniform()  # beats elapsed
    ph = beat % 1.0
    plet = 1000.0 * fp["plet_gain"] * (np.exp(-((ph - 0.25) ** 2) / 0.006) + 0.35 * np.exp(-((ph - 0.5) ** 2) / 0.008))
    plet += rng.normal(0, 10, n)
    qrs = np.exp(-((ph - 0.3) ** 2) / 0.00008) - 0.15 * np.exp(-((ph - 0.285) ** 2) / 0.00005)
    pt = 0.12 * np.exp(-((ph - 0.15) ** 2) / 0.0008) + 0.25 * np.exp(-((ph - 0.55) ** 2) / 0.003)
    ecg = np.outer([900.0, 600.0, -400.0], qrs + pt) + rng.normal(0, 15.0, (3, n))
    slope = cfg.trial_nuisance * rng.uniform(-1, 1)  # per trial: up to 0.3 °C over the recording
    temp = sp.temperature + fp["temp_offset"] + 0.3 * (t / t[-1] if n > 1 else t) * slope
    temp = temp - 0.1 * pa + rng.normal(0, 0.002, n)

    return PhysioSim(
        sfreq=float(sfreq), onset_sample=int(n_pre), eeg=eeg, heog=heog, veog=veog, zemg=zemg,
        temg=temg, gsr=gsr, resp=resp, plet=plet, ecg=ecg, temp=temp,
        blinks=np.array(blinks, dtype=np.float64).reshape(-1, 2),
    )  # fmt: skip
