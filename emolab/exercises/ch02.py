"""Chapter 2's exercise checks: ``n_windows`` and ``blink_correlations``.

The chapter, ``notebooks/02_physiological_preprocessing.ipynb`` (Physiological preprocessing:
from a recording to one-second segments), calls them with ``check(name, fn)`` after each
exercise.  Every expected value below is worked out by hand from the small case beside it (or
is a property any right answer has); none is computed by a reference solution.
"""

from __future__ import annotations

import math

import numpy as np

from emolab.exercises.cases import make_record
from emolab.exercises.checking import checker, expect


@checker("n_windows")
def _check_n_windows(fn, record=None, config=None):
    problems = [
        expect(fn, "60 s, 1 s windows, 1 s stride", (60, 1.0, 1.0), 60),
        expect(fn, "10 s, 2 s windows, 0.5 s stride: (10 - 2) / 0.5 + 1", (10, 2.0, 0.5), 17),
        expect(fn, "3 s, 1 s windows, 0.5 s stride", (3, 1.0, 0.5), 5),
        expect(fn, "1.5 s, 2 s windows (too short: no window)", (1.5, 2.0, 1.0), 0),
        expect(fn, "60 s at 256 Hz, 1 s windows", (60, 1.0, 1.0), 60, sfreq=256.0),
    ]  # fmt: skip
    if record is not None and config is not None:
        from dataclasses import replace

        from emolab.preprocess.physio import preprocess_record

        found = preprocess_record(record, replace(config, window_s=2.0, stride_s=0.5)).n_windows
        problems.append(expect(fn, f"the chapter's record ({record.duration_s:g} s) against "
                               "preprocess_record, 2 s windows, 0.5 s stride",
                               (record.duration_s, 2.0, 0.5), found))  # fmt: skip
    return problems


@checker("blink_correlations")
def _check_blink_correlations(fn):
    rng = np.random.default_rng(0)
    n = 128 * 21
    veog = np.convolve(rng.normal(0, 40, n), np.ones(16) / 4, mode="same")  # slow "blinks", µV
    brain = rng.normal(0, 10, n)
    fp1 = brain + 0.5 * veog  # Fp1 picks up half of the vertical EOG
    types = {"Fp1": "eeg", "Fz": "eeg", "hEOG": "eog", "vEOG": "eog"}
    rec = make_record({"Fp1": fp1, "Fz": rng.normal(0, 10, n), "hEOG": rng.normal(0, 20, n),
                   "vEOG": veog}, types)  # fmt: skip
    before = float(np.corrcoef(fp1, veog)[0, 1])  # the definition, on the data made above
    try:
        got = fn(rec)
    except NotImplementedError:
        raise
    except Exception as exc:
        return [[f"Fp1 = brain + 0.5 vEOG: raised {type(exc).__name__}: {exc}"]]
    if not isinstance(got, tuple | list) or len(got) != 2:
        return [[f"expected a pair (before, after), got {got!r}"]]
    b, a = float(got[0]), float(got[1])
    return [
        [] if math.isclose(b, before, abs_tol=1e-3) else
        [f"Fp1 = brain + 0.5 vEOG: 'before' should be corr(Fp1, vEOG) = {before:.3f}, got {b:.3f}"],
        [] if abs(a) < 0.05 else
        [f"Fp1 = brain + 0.5 vEOG: after the regression Fp1 should no longer follow vEOG "
         f"(|corr| < 0.05), got {a:.3f}; did you correlate the cleaned Fp1?"],
    ]  # fmt: skip
