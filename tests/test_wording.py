"""The sentences chapters print: their direction words follow the numbers' intervals."""

from __future__ import annotations

import pandas as pd
import pytest

from emolab import analysis as an
from emolab import experiments as ex


@pytest.mark.parametrize("low, high, word", [(0.01, 0.2, "above"), (-0.2, -0.01, "below"), (-0.1, 0.1, "neither"),
                                             (float("nan"), float("nan"), "neither"), (0.0, 0.1, "neither")])
def test_relation_reads_the_interval(low, high, word):
    assert an.relation(low, high, above="above", below="below", neither="neither") == word


def test_share_words():
    assert an.share_words(0, 12) == "none of the 12"
    assert an.share_words(12, 12) == "all 12"
    assert an.share_words(5, 12) == "5 of 12 (42 %)"
    with pytest.raises(ValueError):
        an.share_words(1, 0)


def _rows(model, mods, protocol, accs, task="valence"):
    return [{"model": model, "modalities": mods, "task": task, "protocol": protocol, "subject": s + 1, "fold": 0,
             "accuracy": a, "majority_baseline": 0.5, "n_test": 10, "n_pos": 5, "leaky": protocol != "trial-kfold"}
            for s, a in enumerate(accs)]  # fmt: skip


def test_gap_sentences_say_what_the_paired_interval_supports():
    rows = pd.DataFrame(_rows("m", "bio", "paper-segment-kfold", [0.9, 0.8, 0.95, 0.85])
                        + _rows("m", "bio", "trial-kfold", [0.6, 0.5, 0.62, 0.55])
                        + _rows("m", "face", "paper-segment-kfold", [0.6, 0.5, 0.7, 0.4])
                        + _rows("m", "face", "trial-kfold", [0.5, 0.6, 0.4, 0.7]))  # fmt: skip
    gaps = ex.paired_gaps(rows, by=["model", "modalities", "task"], leaky="paper-segment-kfold")
    bio, face = an.gap_sentences(gaps, leaky="paper-segment-kfold")
    assert bio.startswith("m bio valence: paper-segment-kfold 0.875, trial-kfold 0.568;")
    assert bio.endswith("paper-segment-kfold is above trial-kfold.")
    assert face.endswith("paper-segment-kfold is neither above nor below trial-kfold.")
    lower = ex.paired_gaps(rows.assign(protocol=rows["protocol"].map({"paper-segment-kfold": "trial-kfold",
                                                                      "trial-kfold": "loso"})),
                           by=["model", "modalities", "task"], leaky="loso")  # fmt: skip
    assert an.gap_sentences(lower, leaky="loso")[0].endswith("loso is below trial-kfold.")


def test_fusion_and_baseline_sentences():
    rows = pd.DataFrame(_rows("m", "bio", "trial-kfold", [0.6, 0.62, 0.58]) + _rows("m", "face", "trial-kfold",
                        [0.7, 0.72, 0.71]) + _rows("m", "face+bio", "trial-kfold", [0.6, 0.61, 0.6]))  # fmt: skip
    (s,) = an.fusion_sentences(ex.fusion_gains(rows), label="joint")
    assert "(joint)" in s and "better half face 0.710" in s and s.endswith("the fused model is below its better half.")
    feats = pd.DataFrame(_rows("features", "bio", "trial-kfold", [0.5, 0.52, 0.51])
                         + _rows("features (concat)", "face+bio", "trial-kfold", [0.6, 0.62, 0.58]))  # fmt: skip
    sentences = an.baseline_sentences(rows, feats)
    assert len(sentences) == 2  # no feature row for the face: no sentence
    bio = next(x for x in sentences if " bio " in x)
    assert bio.endswith("the deep model is above the feature baseline.")
    fused = next(x for x in sentences if "face+bio" in x)
    assert "features (concat)" in fused and fused.endswith("neither above nor below the feature baseline.")


def test_fingerprint_and_pairing_sentences():
    rows = []
    for fp, accs in ((0.0, [0.6, 0.62, 0.61]), (2.0, [0.9, 0.95, 0.92])):
        rows += [{**r, "fingerprint": fp} for r in _rows("f", "bio", "paper-segment-kfold", accs)]
    for fp, accs in ((0.0, [0.6, 0.58, 0.61]), (2.0, [0.61, 0.57, 0.6])):
        rows += [{**r, "fingerprint": fp} for r in _rows("f", "bio", "trial-kfold", accs)]
    seg, trial = an.fingerprint_sentences(pd.DataFrame(rows))
    assert seg.endswith("it rises.") and "at fingerprint 0" in seg
    assert trial.endswith("it does not move beyond its interval.")
    pairing = pd.DataFrame({"trial": [1, 2, 3, 4], "experiment_id": [1, 3, 2, 4], "valence": [6, 2, 7, 1],
                            "valence_of_naive_video": [6, 7, 2, 1]})  # fmt: skip
    assert an.pairing_sentence(pairing) == ("naive pairing: 2 of 4 (50 %) face videos go to another trial, and "
                                            "2 of 4 (50 %) to a wrong valence label.")
