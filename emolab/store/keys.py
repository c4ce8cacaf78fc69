"""Store keys: the JSON description of what a store holds, and its hash (the folder name)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolab.preprocess.physio import PhysioConfig


STORE_FORMAT = 2  # 2: integrity.json per subject.  Bump when the on-disk layout changes: old stores get a new key


@dataclass
class ReaderConfig:
    """What the records come from (part of the store key).

    Attributes
    ----------
    dataset : {"deap", "mahnob"}
    root : str
        The data folder, resolved to an absolute path.
    reader : str
        Dotted name of the function that reads one subject's records.
    """

    dataset: str
    root: str
    reader: str


# ---------------------------------------------------------------------------------------------
# keys


def _config_dict(obj) -> dict | None:
    if obj is None:
        return None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return dict(obj)
    raise TypeError(f"expected a config dataclass or dict, got {type(obj).__name__}")


def json_default(obj):
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot put {type(obj).__name__} ({obj!r}) into a store key")


def store_config(
    reader: ReaderConfig, physio: PhysioConfig, face, modalities: Sequence[str]
) -> dict:
    """The JSON-able description of a store's content, the input of :func:`store_key`."""
    mods = sorted(set(modalities))
    return {
        "format": STORE_FORMAT,
        "reader": dataclasses.asdict(reader),
        "physio": dataclasses.asdict(physio),
        "face": _config_dict(face) if "face" in mods else None,
        "modalities": mods,
    }


def store_key(config: dict) -> str:
    """16 hex digits of the SHA-256 of ``config`` as canonical JSON (sorted keys)."""
    text = json.dumps(config, sort_keys=True, default=json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

