"""Pick the compute device and the mixed-precision mode for training.

``"auto"`` tries CUDA, then Apple's MPS, then the CPU.  Mixed precision (autocast) is used on CUDA
only: bfloat16 where the GPU supports it (no loss scaling needed), float16 with a gradient scaler
otherwise.  On MPS and CPU training runs in float32, which keeps CPU runs bit-for-bit
reproducible.
"""

from __future__ import annotations

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return the :class:`torch.device` to train on.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA → MPS → CPU), or an explicit ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``.

    Raises
    ------
    RuntimeError
        When an explicit accelerator is asked for but PyTorch cannot see it.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device={device!r} was requested but torch {torch.__version__} sees no CUDA GPU; "
            'use device="auto" (falls back to the CPU) or install a CUDA build of torch'
        )
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise RuntimeError(f'device={device!r} was requested but MPS is not available; use "auto"')
    return dev


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Return the autocast dtype for ``precision`` on ``device`` (``None`` = plain float32).

    ``"auto"`` means bfloat16 on a CUDA GPU that supports it, float16 on an older CUDA GPU and
    float32 elsewhere.  Asking for ``"bf16"``/``"fp16"`` on a device other than CUDA is an error
    rather than a silent change of numerics.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return None
    if device.type != "cuda":
        if precision == "auto":
            return None
        raise ValueError(
            f"precision={precision!r} (mixed precision) is only used on CUDA, but training runs on "
            f'{device}; use precision="auto" or "fp32"'
        )
    if precision == "bf16" or (precision == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16
