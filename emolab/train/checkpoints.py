"""Loading training checkpoints safely, with errors that say which file and what to do.

A checkpoint is a pickle, and a pickle can run code when loaded, so :func:`load_checkpoint` always
passes ``weights_only=True`` to :func:`torch.load`: only tensors, plain containers and numbers come
back, anything else is refused.  A refused, truncated or foreign file ends in
:class:`CheckpointError` naming the path and the fix (a checkpoint folder is a cache: deleting it
makes the run start again from epoch 0).

>>> from emolab.train.checkpoints import load_checkpoint
>>> state = load_checkpoint("cells/abc/checkpoint/last.pt")   # doctest: +SKIP
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

__all__ = ["CheckpointError", "load_checkpoint"]


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded (refused, truncated or not a checkpoint); names the file."""


def load_checkpoint(path: str | os.PathLike, *, map_location: Any = "cpu") -> dict:
    """Load a checkpoint written with :func:`torch.save` of a state dict.

    Checked: the file exists, :func:`torch.load` with ``weights_only=True`` accepts it (so it
    contains nothing that could run code) and reads it to the end, and the result is a dict.

    Parameters
    ----------
    path : path-like
        The checkpoint file (e.g. a trainer's ``checkpoint_dir / "last.pt"``).
    map_location : str, torch.device or callable
        Where tensors go (default ``"cpu"``), as for :func:`torch.load`.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    CheckpointError
        The file is refused by the weights-only unpickler, truncated or damaged, or not a state
        dict.  The message names the file and says to delete its folder (or pass a new checkpoint
        folder) so that the run starts again.
    """
    path = Path(path)
    fix = (f"delete {path.parent} (or use a new checkpoint folder) and run again; the run then "
           "starts from its first epoch")  # fmt: skip
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    size = path.stat().st_size
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: refused or not a checkpoint ({first}); only tensors and "
                              f"plain data are loaded from checkpoints; {fix}") from None  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - a damaged pickle can raise anything (IndexError,
        # struct.error, AssertionError, TypeError ... from a cut legacy-format file): name the file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: truncated or damaged ({size} bytes; {type(exc).__name__}: "
                              f"{first}); {fix}") from None  # fmt: skip
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a state dict; {fix}")
    return state
