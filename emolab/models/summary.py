"""Shape traces through a model, for the chapter that dissects the encoders (04_models)."""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from emolab.models.flops import count_parameters


def _shape(x: object) -> tuple[int, ...] | None:
    """Shape of a tensor, or of the first tensor inside a tuple/list (LSTM, attention outputs)."""
    if isinstance(x, torch.Tensor):
        return tuple(x.shape)
    if isinstance(x, (tuple, list)):
        for item in x:
            s = _shape(item)
            if s is not None:
                return s
    return None


def trace_shapes(model: nn.Module, *args: torch.Tensor, max_depth: int = 2, **kwargs: torch.Tensor) -> pd.DataFrame:
    """Run ``model(*args, **kwargs)`` once and list every submodule it calls, in call order.

    Forward hooks record each submodule's input and output shapes (for tuple outputs such as an
    LSTM's, the first tensor) and its parameter count (including its children).

    Parameters
    ----------
    model : nn.Module
        Any module; it is run in eval mode without gradients and restored to its mode after.
    *args, **kwargs : Tensor
        The inputs, e.g. ``face=..., bio=...`` for a :class:`~emolab.models.MultimodalModel`.
    max_depth : int
        Deepest submodule name to list (``face_encoder.cnn`` has depth 2).

    Returns
    -------
    pandas.DataFrame
        Columns ``layer``, ``type``, ``depth``, ``input shape``, ``output shape``, ``params``.
    """
    rows: list[dict] = []
    handles = []
    for name, module in model.named_modules():
        depth = name.count(".") + 1 if name else 0
        if not name or depth > max_depth:
            continue

        def _pre(mod: nn.Module, inp: tuple, *, _name: str = name, _depth: int = depth) -> None:
            rows.append(
                {
                    "layer": _name,
                    "type": type(mod).__name__,
                    "depth": _depth,
                    "input shape": _shape(inp),
                    "output shape": None,
                    "params": count_parameters(mod),
                    "_id": id(mod),
                }
            )

        def _post(mod: nn.Module, _inp: tuple, out: object) -> None:
            for row in reversed(rows):  # the latest unfinished call of this module
                if row["_id"] == id(mod) and row["output shape"] is None:
                    row["output shape"] = _shape(out)
                    break

        handles += [module.register_forward_pre_hook(_pre), module.register_forward_hook(_post)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(*args, **kwargs)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return pd.DataFrame(rows).drop(columns="_id")
