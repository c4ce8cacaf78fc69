"""The published figures the book compares with, read from one cited data file.

Every accuracy the book quotes from the literature lives in ``emolab/data/reference_results.csv``,
one row per figure, with the BibTeX key of its source (``book/references.bib``), the table it
comes from and a link.  Chapters read the figures from there instead of typing them, so a typo in
one place cannot silently disagree with another, and ``tests/test_reference.py`` checks the rows
against the papers' text and the bibliography.

Columns (one row = one figure):

================  ==============================================================================
``source``        BibTeX key in ``book/references.bib``
``table``         where in the source the figure is printed (``"Table I"``, a README section …)
``url``           DOI or URL of the source (empty only where none is known; see the .bib note)
``dataset``       ``"DEAP"`` or ``"MAHNOB-HCI"``
``protocol``      emolab's protocol name where one maps (``paper-segment-kfold``,
                  ``pooled-segment-kfold``, ``trial-kfold``, ``loso``), else a short lowercase
                  name (``unspecified`` when the citing paper does not say)
``protocol_text`` the source's own evaluation setting, paraphrased
``model``         the model as the source names it
``architecture``  ``"safavi"`` or ``"gbvnet"`` for the two reproduced papers' own rows, else empty
``modality``      ``"bio"``, ``"face"``, ``"face+bio"``, ``"eeg"``, ``"face+eeg"``, ``"multimodal"``
``task``          ``"valence"`` or ``"arousal"`` (binary high/low)
``metric``        ``"accuracy"`` (``"f1"`` … where a source reports one)
``value``         the figure as a fraction in [0, 1] (97.64 % is ``0.9764``)
``kind``          ``"paper"`` (the reproduced papers' own results), ``"comparison"`` (the other rows
                  of their tables), ``"literature"`` (independent benchmarks with their protocol),
                  ``"baseline"`` (a majority-class baseline reported by a source)
================  ==============================================================================

>>> from emolab.reference import load_reference, paper_figure
>>> paper_figure("gbvnet", "face+bio", "valence", dataset="MAHNOB-HCI")
0.9748
>>> load_reference(kind="baseline", dataset="DEAP")[["model", "task", "value"]]  # doctest: +SKIP
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from emolab._logging import logger
from emolab.data.record import TASKS

#: The data file shipped inside the package.
REFERENCE_FILE = Path(str(resources.files("emolab.data").joinpath("reference_results.csv")))

COLUMNS = ("source", "table", "url", "dataset", "protocol", "protocol_text", "model",
           "architecture", "modality", "task", "metric", "value", "kind")  # fmt: skip
KINDS = ("paper", "comparison", "literature", "baseline")
DATASETS = ("DEAP", "MAHNOB-HCI")
ARCHITECTURES = ("safavi", "gbvnet")
_REQUIRED = ("source", "table", "dataset", "protocol", "model", "modality", "task", "metric", "value", "kind")


class ReferenceDataError(ValueError):
    """The reference file is malformed; the message names the file, the line and the fix."""


def _check_choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; use one of {', '.join(allowed)} (or None for all)")


def _validate(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ReferenceDataError(f"{path}: columns {missing} are missing; the header must be {','.join(COLUMNS)}")
    for i, row in table.iterrows():
        where = f"{path}, line {int(i) + 2} ({row['source'] or '?'} {row['model'] or '?'} {row['task'] or '?'})"
        for col in _REQUIRED:
            if not row[col].strip():
                raise ReferenceDataError(f"{where}: the {col!r} cell is empty; every figure needs its {col}")
        for col, allowed in (("kind", KINDS), ("dataset", DATASETS), ("task", TASKS)):
            if row[col] not in allowed:
                raise ReferenceDataError(f"{where}: unknown {col} {row[col]!r}; use one of {', '.join(allowed)}")
        if (row["kind"] == "paper") != (row["architecture"] in ARCHITECTURES):
            raise ReferenceDataError(
                f"{where}: architecture {row['architecture']!r} with kind {row['kind']!r}; the reproduced "
                f"papers' own rows (kind 'paper') name their architecture ({', '.join(ARCHITECTURES)}), "
                "all other rows leave it empty"
            )
        try:
            value = float(row["value"])
        except ValueError:
            raise ReferenceDataError(f"{where}: value {row['value']!r} is not a number") from None
        if not 0.0 <= value <= 1.0:
            raise ReferenceDataError(
                f"{where}: value {row['value']} is outside [0, 1]; write figures as fractions (97.64 % -> 0.9764)"
            )
    return table.astype({"value": float})


def load_reference(*, kind: str | None = None, dataset: str | None = None, path: str | Path | None = None) -> pd.DataFrame:
    """The published figures, validated, optionally only one ``kind`` and/or ``dataset``.

    Parameters
    ----------
    kind : {"paper", "comparison", "literature", "baseline"}, optional
        Keep only these rows (see the module docstring); ``None`` keeps all.
    dataset : {"DEAP", "MAHNOB-HCI"}, optional
        Keep only this dataset's rows.
    path : path, optional
        Another file in the same format (default: :data:`REFERENCE_FILE`, shipped with emolab).

    Returns
    -------
    pandas.DataFrame
        One row per figure, the columns of :data:`COLUMNS`; ``value`` is a float fraction in
        [0, 1], every other column a string (empty where the source has nothing to say).

    Raises
    ------
    ReferenceDataError
        When a row lacks its source (or another required cell), has a value outside [0, 1] or
        an unknown kind, dataset or task; the message names the file and the line.
    ValueError
        When ``kind`` or ``dataset`` is not one of the allowed names.
    """
    _check_choice("kind", kind, KINDS)
    _check_choice("dataset", dataset, DATASETS)
    path = REFERENCE_FILE if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no reference file at {path}; reinstall emolab (it ships emolab/data/reference_results.csv)")
    table = _validate(pd.read_csv(path, dtype=str, keep_default_na=False), path)
    if kind is not None:
        table = table[table["kind"] == kind]
    if dataset is not None:
        table = table[table["dataset"] == dataset]
    logger.debug("read %d reference figures from %s", len(table), path)
    return table.reset_index(drop=True)


def paper_figure(architecture: str, modality: str, task: str, *, dataset: str = "DEAP", metric: str = "accuracy") -> float:
    """The figure a reproduced paper reports for its own model.

    Parameters
    ----------
    architecture : {"safavi", "gbvnet"}
        Safavi et al. (Table I) or GBV-Net (Tables 3 and 4).
    modality : str
        ``"face+bio"`` for the fused model, ``"bio"`` or ``"face"`` for GBV-Net's ablations.
    task : {"valence", "arousal"}
    dataset : {"DEAP", "MAHNOB-HCI"}
    metric : str
        ``"accuracy"`` (the only metric the two papers report).

    Returns
    -------
    float
        The figure as a fraction, e.g. ``0.9764`` for Safavi et al.'s DEAP valence accuracy.

    Raises
    ------
    KeyError
        When the paper reports no such figure; the message lists the figures it does report.
    ReferenceDataError
        When two tables of one paper give different values for the same figure.
    """
    table = load_reference(kind="paper")
    hit = table[(table["architecture"] == architecture) & (table["modality"] == modality)
                & (table["task"] == task) & (table["dataset"] == dataset) & (table["metric"] == metric)]  # fmt: skip
    if hit.empty:
        have = sorted({f"{r.architecture}/{r.modality}/{r.task}/{r.dataset}/{r.metric}" for r in table.itertuples()})
        raise KeyError(
            f"no paper figure for {architecture}/{modality}/{task}/{dataset}/{metric} in {REFERENCE_FILE}; "
            f"the papers report: {', '.join(have)}"
        )
    values = set(hit["value"])
    if len(values) > 1:
        raise ReferenceDataError(
            f"{REFERENCE_FILE}: {architecture}/{modality}/{task}/{dataset} is given as {sorted(values)} "
            f"in {', '.join(hit['table'])}; one of these rows is mistyped"
        )
    return float(values.pop())
