"""Chapter 3's exercise checks: ``window_detection_rate`` and ``decoded_fraction``.

The chapter, ``notebooks/03_face_preprocessing.ipynb`` (Face preprocessing: from a trial video
to aligned face crops), calls them with ``check(name, fn)`` after each exercise.  Every
expected value below is worked out by hand from the small case beside it (or is a property any
right answer has); none is computed by a reference solution.
"""

from __future__ import annotations

import numpy as np

from emolab.exercises.checking import checker, expect


@checker("window_detection_rate")
def _check_window_detection_rate(fn):
    from types import SimpleNamespace

    three = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=bool)
    one = np.array([[1, 0, 0]], dtype=bool)
    return [
        expect(fn, "3 windows of 4 frames", (SimpleNamespace(detected=three),), np.array([0.5, 1.0, 0.0])),
        expect(fn, "1 window of 3 frames", (SimpleNamespace(detected=one),), np.array([1 / 3])),
    ]  # fmt: skip


@checker("decoded_fraction")
def _check_decoded_fraction(fn):
    return [
        expect(fn, "50 fps video, 5 fps, 60 s", (50, 5), (300, 0.1)),
        expect(fn, "50 fps video, 10 fps, 60 s", (50, 10), (600, 0.2)),
        expect(fn, "60 fps video, 12 fps, 2 s", (60, 12), (24, 0.2), n_windows=2),
        expect(fn, "25 fps video, every frame, 3 s", (25, 25), (75, 1.0), n_windows=3),
    ]  # fmt: skip
