"""Parameter counts and floating-point operations per sample."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(module: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _lstm_forward_flops(lstm: nn.LSTM, inp: torch.Tensor) -> int:
    """FLOPs of one LSTM forward pass (matrix products only, multiply + add = 2).

    ``torch.utils.flop_counter`` does not see the fused CPU LSTM kernel, so LSTMs are counted
    by formula: per step, per layer and direction, 4 gates of ``H x (I + H)`` weights.
    """
    batch_first = lstm.batch_first
    b, t = (inp.shape[0], inp.shape[1]) if batch_first else (inp.shape[1], inp.shape[0])
    h = lstm.hidden_size
    directions = 2 if lstm.bidirectional else 1
    total = 0
    in_size = lstm.input_size
    for _ in range(lstm.num_layers):
        total += directions * 2 * 4 * h * (in_size + h) * b * t
        in_size = h * directions
    return total


def _conv_backward_flops(
    grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
    _output_padding, _groups, output_mask, out_shape=None, **kwargs,
) -> int:
    """FLOPs of ``aten.convolution_backward``, correct for grouped (depthwise) convolutions.

    Both the input gradient and the weight gradient cost as many multiply-adds as the forward
    convolution.  PyTorch's built-in formula ignores ``groups`` for the weight gradient and so
    over-counts a depthwise convolution's backward pass by a factor of ``groups``.
    """
    # forward multiply-adds: every output (input, if transposed) element meets one filter slice
    positions = math.prod(x_shape if transposed else grad_out_shape)
    forward = 2 * positions * math.prod(w_shape[1:])
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def flops_per_sample(
    model: nn.Module,
    inputs: Mapping[str, torch.Tensor] | None = None,
    *,
    training: bool = False,
) -> float:
    """Floating-point operations per sample of one forward pass (or one training step).

    Counted with :class:`torch.utils.flop_counter.FlopCounterMode` (matrix products,
    convolutions and attention; a multiply-add counts as 2; element-wise operations, norms and
    activations are not counted), with two corrections: LSTMs are counted by formula because
    the counter misses the fused CPU LSTM kernel (their backward pass taken as twice the
    forward, as for the other layers), and the backward pass of grouped convolutions by our own
    formula (the built-in one over-counts depthwise convolutions).  The forward pass is run with
    autograd on, because PyTorch's inference fast path for Transformer layers is invisible to
    the counter.

    Parameters
    ----------
    model : nn.Module
        Usually a :class:`~emolab.models.MultimodalModel`, called as ``model(**inputs)``.
    inputs : mapping of str to Tensor, optional
        Keyword inputs with a batch of at least 2; default ``model.example_inputs(2)``.
    training : bool
        ``False``: forward pass in eval mode.  ``True``: forward + backward in train mode (the
        work of a training step, without the optimiser's element-wise update).

    Returns
    -------
    float
        FLOPs divided by the batch size.
    """
    if inputs is None:
        inputs = model.example_inputs(2)
    batch = next(iter(inputs.values())).shape[0]
    lstm_flops = 0

    def _hook(module: nn.Module, args: tuple, _out: object) -> None:
        nonlocal lstm_flops
        lstm_flops += _lstm_forward_flops(module, args[0])

    handles = [m.register_forward_hook(_hook) for m in model.modules() if isinstance(m, nn.LSTM)]
    was_training = model.training
    model.train(training)
    try:
        mapping = {torch.ops.aten.convolution_backward: _conv_backward_flops}
        with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
            out = model(**inputs)  # autograd on in both modes: see the note above
            if training:
                out.sum().backward()
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)
    total = counter.get_total_flops() + lstm_flops * (3 if training else 1)
    return total / batch


def complexity_table(models: Mapping[str, nn.Module]) -> pd.DataFrame:
    """One row per model: parameters of each part and MFLOPs per sample (inference, training).

    ``models`` maps a label to a :class:`~emolab.models.MultimodalModel`.
    """
    rows = []
    for label, model in models.items():
        parts = {"face": model.face_encoder, "bio": model.bio_encoder, "fusion": model.fusion}
        row = {"model": label}
        for part, module in parts.items():
            row[f"{part} params"] = count_parameters(module) if module is not None else 0
        row["total params"] = count_parameters(model)
        row["MFLOPs/sample (inference)"] = flops_per_sample(model) / 1e6
        row["MFLOPs/sample (training step)"] = flops_per_sample(model, training=True) / 1e6
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")
