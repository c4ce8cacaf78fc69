"""The physiological chain: window arithmetic, baseline, EOG regression, band-pass, channels."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from emolab.data.channels import (
    DEAP_CH_NAMES,
    DEAP_CH_TYPES,
    MAHNOB_CH_NAMES,
    MAHNOB_CH_TYPES,
)
from emolab.data.record import Record
from emolab.preprocess.physio import (
    MAHNOB_DEFAULT_CHANNELS,
    PhysioConfig,
    baseline_template,
    cut_windows,
    preprocess_record,
    band_power,
    eeg_info,
    window_starts,
)


def deap_record(signals: np.ndarray | None = None, *, seed: int = 0, n_samples: int = 8064) -> Record:
    rng = np.random.default_rng(seed)
    if signals is None:
        signals = rng.normal(0, 10, (40, n_samples))
    return Record(
        dataset="deap", subject=1, trial=1, experiment_id=1,
        signals=signals.astype(np.float32), sfreq=128.0,
        ch_names=list(DEAP_CH_NAMES), ch_types=list(DEAP_CH_TYPES), baseline_samples=384,
        ratings={"valence": 6.0, "arousal": 3.0}, source=Path("s01.dat"),
    )  # fmt: skip


def mahnob_record(*, seed: int = 0, pre_s: float = 30.0, stim_s: float = 70.5) -> Record:
    rng = np.random.default_rng(seed)
    n = int((pre_s + stim_s) * 256)
    return Record(
        dataset="mahnob", subject=3, trial=2, experiment_id=12,
        signals=rng.normal(0, 10, (len(MAHNOB_CH_NAMES), n)).astype(np.float32), sfreq=256.0,
        ch_names=list(MAHNOB_CH_NAMES), ch_types=list(MAHNOB_CH_TYPES),
        baseline_samples=int(pre_s * 256), ratings={"valence": 2.0, "arousal": 7.0},
        source=Path("Part_3_S_Trial2_emotion.bdf"),
    )  # fmt: skip


# -- window arithmetic ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "win", "stride", "expected"),
    [(7680, 128, 128, 60), (7680, 128, 64, 119), (7680, 256, 256, 30), (200, 128, 128, 1),
     (127, 128, 128, 0), (128, 128, 1, 1)],
)  # fmt: skip
def test_window_count_arithmetic(n, win, stride, expected):
    starts = window_starts(n, win=win, stride=stride)
    assert len(starts) == expected == max(0, (n - win) // stride + 1)
    x = np.arange(3 * n, dtype=float).reshape(3, n)
    w = cut_windows(x, win=win, stride=stride)
    assert w.shape == (expected, 3, win)
    if expected:
        np.testing.assert_array_equal(w[-1, 1], x[1, starts[-1] : starts[-1] + win])


def test_deap_record_gives_60_segments_of_40_by_128():
    seg = preprocess_record(deap_record(), PhysioConfig())
    assert seg.data.shape == (60, 40, 128)
    assert seg.data.dtype == np.float32
    assert seg.ch_names == list(DEAP_CH_NAMES)
    assert seg.sfreq == 128.0
    np.testing.assert_allclose(seg.onsets_s, np.arange(60.0))
    assert any("band-pass: skipped" in s for s in seg.steps)


def test_stride_and_window_length_are_configurable():
    seg = preprocess_record(deap_record(), PhysioConfig(window_s=2.0, stride_s=0.5))
    assert seg.data.shape == ((7680 - 256) // 64 + 1, 40, 256)
    np.testing.assert_allclose(np.diff(seg.onsets_s), 0.5)


def test_mahnob_resampled_to_128_hz_with_38_channels():
    seg = preprocess_record(mahnob_record(), PhysioConfig())
    assert seg.sfreq == 128.0
    assert seg.data.shape == (70, 38, 128)  # 70.5 s of stimulus -> 70 whole seconds
    assert tuple(seg.ch_names) == MAHNOB_DEFAULT_CHANNELS
    assert any(s.startswith("resample: 256 Hz -> 128 Hz") for s in seg.steps)
    assert any(s.startswith("band-pass: 4.0-45.0 Hz") for s in seg.steps)
    assert any("no EOG channel" in s for s in seg.steps)


def test_missing_channel_error_names_file():
    with pytest.raises(ValueError, match=r"s01\.dat.*Nope"):
        preprocess_record(deap_record(), PhysioConfig(channels=("Fp1", "Nope")))


# -- baseline ---------------------------------------------------------------------------------

_PLAIN = dict(eog_regression=False, already_filtered=True)


def test_baseline_removes_known_offset_and_periodic_pattern():
    t = np.arange(8064) / 128.0
    offsets = np.linspace(-50, 50, 40)[:, None]
    # a 1 Hz pattern phase-locked to the window grid is identical in every second: the mean
    # baseline second equals it, so it must vanish together with the constant offset
    pattern = 5 * np.sin(2 * np.pi * 1.0 * t)[None, :]
    step = np.zeros_like(t)
    step[384:] = 7.0  # the stimulus shifts every channel by a known 7 units
    x = offsets + pattern + step[None, :]
    seg = preprocess_record(deap_record(x), PhysioConfig(**_PLAIN))
    np.testing.assert_allclose(seg.data, 7.0, atol=1e-3)
    np.testing.assert_allclose(seg.baseline, (offsets + pattern[:, :128]).astype(np.float32),
                               atol=1e-3)  # fmt: skip
    raw = preprocess_record(deap_record(x), PhysioConfig(baseline=False, **_PLAIN))
    np.testing.assert_allclose(raw.data - seg.data, np.broadcast_to(seg.baseline, raw.data.shape),
                               atol=1e-3)  # fmt: skip


def test_baseline_template_uses_windows_next_to_onset():
    pre = np.concatenate([np.full(50, 100.0), np.full(256, 2.0)])[None, :]  # partial window first
    np.testing.assert_allclose(baseline_template(pre, win=128), 2.0)
    with pytest.raises(ValueError, match="shorter than one window"):
        baseline_template(pre[:, :100], win=128)


def test_baseline_s_limits_the_pre_stimulus_period():
    x = np.zeros((40, 8064))
    x[:, :128] = 30.0  # only the first of the three baseline seconds is different
    full = preprocess_record(deap_record(x), PhysioConfig(baseline_s=3.0, **_PLAIN))
    last2 = preprocess_record(deap_record(x), PhysioConfig(baseline_s=2.0, **_PLAIN))
    np.testing.assert_allclose(full.data, -10.0, atol=1e-4)
    np.testing.assert_allclose(last2.data, 0.0, atol=1e-4)


def test_normalise_uses_the_trials_own_baseline_std():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (40, 8064)) * np.linspace(1, 20, 40)[:, None]
    seg = preprocess_record(deap_record(x), PhysioConfig(normalize="baseline_std", **_PLAIN))
    std = seg.data.transpose(1, 0, 2).reshape(40, -1).std(axis=1)
    # white noise minus the mean of 3 noise seconds: variance 1 + 1/3 in baseline-std units
    # (each channel's own 3 s estimate of its std is noisy by a few per cent)
    assert abs(np.median(std) - np.sqrt(4 / 3)) < 0.05
    assert std.max() / std.min() < 1.5  # the 20x spread between channels is gone
    with pytest.raises(ValueError, match="normalize"):
        PhysioConfig(normalize="zscore_everything")


# -- EOG --------------------------------------------------------------------------------------


def _blink_record(seed: int = 0) -> tuple[Record, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 8064
    t = np.arange(n) / 128.0
    blinks = np.zeros(n)
    for c in np.arange(2.0, 63.0, 2.7):  # a blink every 2.7 s: 0.25 s wide, 150 uV
        blinks += 150 * np.exp(-0.5 * ((t - c) / 0.08) ** 2)
    x = rng.normal(0, 5, (40, n))
    veog, heog = DEAP_CH_NAMES.index("vEOG"), DEAP_CH_NAMES.index("hEOG")
    x[veog] += blinks
    x[heog] = rng.normal(0, 5, n)
    for ch, gain in (("Fp1", 0.5), ("Fp2", 0.45), ("AF3", 0.2), ("AF4", 0.2)):
        x[DEAP_CH_NAMES.index(ch)] += gain * blinks
    return deap_record(x, seed=seed), blinks


def test_eog_regression_lowers_blink_variance_at_fp1_fp2():
    rec, blinks = _blink_record()
    on = preprocess_record(rec, PhysioConfig(baseline=False, already_filtered=True))
    off = preprocess_record(rec, PhysioConfig(baseline=False, already_filtered=True,
                                              eog_regression=False))  # fmt: skip
    blink_w = blinks[384:].reshape(60, 128)  # the blink waveform per window
    for ch in ("Fp1", "Fp2"):
        i = DEAP_CH_NAMES.index(ch)
        before = np.corrcoef(off.data[:, i].ravel(), blink_w.ravel())[0, 1]
        after = np.corrcoef(on.data[:, i].ravel(), blink_w.ravel())[0, 1]
        assert before > 0.8 and abs(after) < 0.1, (ch, before, after)
        assert on.data[:, i].var() < 0.2 * off.data[:, i].var()
    # a channel without leakage is barely touched
    oz = DEAP_CH_NAMES.index("Oz")
    np.testing.assert_allclose(on.data[:, oz].var(), off.data[:, oz].var(), rtol=0.05)
    assert on.eog_coef.shape == (32, 2)
    assert any(s.startswith("EOG regression: 2 EOG") for s in on.steps)


def test_eog_correlation_table_and_blink_figure():
    import matplotlib

    matplotlib.use("Agg")
    from emolab.preprocess import physio
    from emolab.viz.signals import plot_blink

    rec, _ = _blink_record(seed=2)
    raw, _ = physio.set_reference(physio.record_to_raw(rec), reference="keep")
    cleaned, _, coef = physio.remove_eog(raw.copy())
    table = physio.eog_correlations(raw, cleaned, coef, channels=("Fp1", "AF3", "Oz"))
    assert list(table.index) == ["Fp1", "AF3", "Oz"]
    assert list(table.columns) == ["corr. with vEOG before", "after", "hEOG weight", "vEOG weight"]
    assert table.loc["Fp1", "corr. with vEOG before"] > 0.8 and abs(table.loc["Fp1", "after"]) < 0.1
    assert table.loc["Fp1", "vEOG weight"] == pytest.approx(0.5, abs=0.05)  # the gain the record was made with
    assert abs(table.loc["Oz", "vEOG weight"]) < 0.05
    fig = plot_blink(raw, cleaned, channels=("Fp1", "Fp2"))
    assert [ax.get_title() for ax in fig.axes] == ["vEOG", "Fp1", "Fp2"]
    assert [len(ax.lines) for ax in fig.axes] == [1, 2, 2]
    no_eog = physio.record_to_raw(mahnob_record())
    _, step, none = physio.remove_eog(no_eog.copy())
    assert none is None and "skipped" in step
    with pytest.raises(ValueError, match="no EOG"):
        physio.eog_correlations(no_eog, no_eog, none)
    with pytest.raises(ValueError, match="MAHNOB-HCI records no EOG"):
        plot_blink(no_eog, no_eog)


def test_mahnob_bandpass_removes_out_of_band_power():
    rec = mahnob_record()
    t = np.arange(rec.n_samples) / 256.0
    rec.signals[:32] += (40 * np.sin(2 * np.pi * 1.0 * t) + 40 * np.sin(2 * np.pi * 70.0 * t)
                         + 40 * np.sin(2 * np.pi * 10.0 * t)).astype(np.float32)  # fmt: skip
    seg = preprocess_record(rec, PhysioConfig(baseline=False))
    x = seg.data[:, 0].ravel()  # Fp1, 70 s
    spec = np.abs(np.fft.rfft(x)) / len(x)
    freqs = np.fft.rfftfreq(len(x), 1 / 128.0)

    def amp(f):
        return spec[np.argmin(np.abs(freqs - f))]

    assert amp(10.0) > 10 * amp(1.0)  # 10 Hz kept, 1 Hz (below 4 Hz) removed
    # 70 Hz is above the new Nyquist (64 Hz): resampling must not alias it to 58 Hz
    assert amp(58.0) < 0.05 * amp(10.0)


def test_config_is_json_serialisable():
    cfg = PhysioConfig(channels=["Fp1", "Fp2"])
    d = dataclasses.asdict(cfg)
    assert json.loads(json.dumps(d))["channels"] == ["Fp1", "Fp2"]
    assert cfg.channels == ("Fp1", "Fp2")


def test_band_power_finds_the_band_of_a_sine():
    t = np.arange(128 * 4) / 128.0
    x = np.stack([np.sin(2 * np.pi * 10 * t), np.sin(2 * np.pi * 20 * t)])  # (2, n)
    bp = band_power(x[None], sfreq=128.0)  # (1, 2, 4): theta alpha beta gamma
    assert bp.shape == (1, 2, 4)
    assert bp[0, 0].argmax() == 1 and bp[0, 1].argmax() == 2


def test_eeg_info_has_positions_for_the_32_eeg_channels():
    info, picks = eeg_info(list(DEAP_CH_NAMES))
    assert picks == list(range(32)) and len(info.ch_names) == 32
    pos = np.array([ch["loc"][:3] for ch in info["chs"]])
    assert np.isfinite(pos).all() and (np.linalg.norm(pos, axis=1) > 0).all()
    # centred on the head: the template's electrodes lie on a sphere around the origin
    r = np.linalg.norm(pos, axis=1)
    assert r.std() < 0.1 * r.mean()


def test_mean_baseline_subtracts_one_number_per_channel():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 10, (40, 8064)) + np.linspace(-50, 50, 40)[:, None]
    seg = preprocess_record(deap_record(x), PhysioConfig(baseline="mean", **_PLAIN))
    raw = preprocess_record(deap_record(x), PhysioConfig(baseline=False, **_PLAIN))
    level = x[:, :384].mean(axis=1)  # the channel's mean over DEAP's 3 s baseline
    np.testing.assert_allclose(raw.data - seg.data, np.broadcast_to(level[None, :, None], raw.data.shape),
                               atol=1e-3)  # fmt: skip
    assert any("each channel's mean" in s for s in seg.steps)


def test_baseline_options_are_checked_and_the_template_has_one_spelling():
    assert PhysioConfig(baseline="template").baseline is True  # one store key for the paper's option
    assert PhysioConfig(baseline=None).baseline is False
    with pytest.raises(ValueError, match="'mean' or False"):
        PhysioConfig(baseline="median")
