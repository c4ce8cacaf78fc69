"""GBV-Net's batch augmentations, written in torch so they run on the training device.

GBV-Net :cite:`yu2025gbvnet` augments faces by horizontal flipping, colour jitter and Gaussian
blur, and physiological signals by additive noise, time shifting and amplitude scaling.  The
paper gives no magnitudes; ours are in :class:`~emolab.train.config.AugmentConfig`.

Every random draw comes from an explicit :class:`torch.Generator`, so a seeded run augments the
same way every time (and a resumed run the same way as an uninterrupted one).  Each transform is
drawn once per clip or segment: all frames of a clip get the same flip, jitter and blur, so the
augmentation never invents motion.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from emolab.train.config import AugmentConfig


def _uniform(n: int, low: float, high: float, *, generator: torch.Generator, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def augment_face(face: torch.Tensor, config: AugmentConfig, *, generator: torch.Generator) -> torch.Tensor:
    """Augment a batch of face clips.

    Parameters
    ----------
    face : torch.Tensor, float, shape (B, T, 3, H, W)
        RGB frames scaled to [0, 1].
    config : AugmentConfig
        Which transforms to apply and how strongly.
    generator : torch.Generator
        Source of randomness, on the same device as ``face``.

    Returns
    -------
    torch.Tensor, shape (B, T, 3, H, W), values in [0, 1]
        A new tensor; the input is not modified.
    """
    if face.ndim != 5 or face.shape[2] != 3:
        raise ValueError(f"face must be (B, T, 3, H, W), got {tuple(face.shape)}")
    B, dev = face.shape[0], face.device
    out = face
    if config.face_flip:
        flip = torch.rand(B, generator=generator, device=dev) < config.flip_p
        out = torch.where(flip[:, None, None, None, None], out.flip(-1), out)
    if config.face_color_jitter:
        view = (B, 1, 1, 1, 1)
        b = _uniform(B, 1 - config.brightness, 1 + config.brightness, generator=generator, device=dev)
        c = _uniform(B, 1 - config.contrast, 1 + config.contrast, generator=generator, device=dev)
        s = _uniform(B, 1 - config.saturation, 1 + config.saturation, generator=generator, device=dev)
        out = (out * b.view(view)).clamp(0, 1)
        grey = (0.299 * out[:, :, 0] + 0.587 * out[:, :, 1] + 0.114 * out[:, :, 2]).unsqueeze(2)
        mean = grey.mean(dim=(-1, -2, -3), keepdim=True)  # (B, T, 1, 1, 1): per-frame mean grey
        out = ((out - mean) * c.view(view) + mean).clamp(0, 1)
        grey = (0.299 * out[:, :, 0] + 0.587 * out[:, :, 1] + 0.114 * out[:, :, 2]).unsqueeze(2)
        out = ((out - grey) * s.view(view) + grey).clamp(0, 1)
    if config.face_blur:
        out = _gaussian_blur(out, config, generator=generator)
    return out


def _gaussian_blur(face: torch.Tensor, config: AugmentConfig, *, generator: torch.Generator) -> torch.Tensor:
    """Blur each clip with probability ``config.blur_p``, with its own sigma drawn from
    ``config.blur_sigma``, through a kernel of ``config.blur_kernel`` taps."""
    B = face.shape[0]
    dev, k = face.device, int(config.blur_kernel)
    if k % 2 == 0 or k < 3:
        raise ValueError(f"blur_kernel must be an odd integer >= 3, got {k}")
    apply = torch.rand(B, generator=generator, device=dev) < config.blur_p
    sigma = _uniform(B, *config.blur_sigma, generator=generator, device=dev)
    kern = gaussian_kernels(sigma, k, dtype=face.dtype)  # (B, k)
    # identity kernel for clips that are not blurred
    ident = torch.zeros_like(kern)
    ident[:, k // 2] = 1.0
    return blur_clips(face, torch.where(apply[:, None], kern, ident))


def gaussian_kernels(sigma: torch.Tensor | float, size: int, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian kernels of ``size`` taps (odd), centred on the middle one.

    Parameters
    ----------
    sigma : torch.Tensor of shape (B,), or float
        Standard deviation in pixels (> 0): one per clip (a tensor; the kernels are computed in
        ``dtype``), or one for all (a float; ``2 * sigma ** 2`` is then taken in double precision).
    size : int
        Taps of every kernel.

    Returns
    -------
    torch.Tensor, shape (B, size), or (1, size) for a float ``sigma``
        Each row sums to 1.
    """
    device = sigma.device if isinstance(sigma, torch.Tensor) else None
    x = (torch.arange(size, device=device, dtype=dtype) - size // 2)[None, :]  # (1, size)
    if isinstance(sigma, torch.Tensor):
        kern = torch.exp(-(x**2) / (2 * sigma[:, None].to(dtype) ** 2))  # (B, size)
    else:
        kern = torch.exp(-(x**2) / (2 * float(sigma) ** 2))  # (1, size)
    return kern / kern.sum(dim=1, keepdim=True)


def blur_clips(face: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Blur every frame of each clip with that clip's separable kernel, borders reflected.

    ``face`` ``(B, T, 3, H, W)``; ``kernels`` ``(B, k)`` with ``k`` odd and ``k // 2 < min(H, W)``
    (:func:`gaussian_kernels`).  Returns a tensor of ``face``'s shape: a horizontal then a
    vertical pass of a grouped convolution, one kernel per colour plane of each frame.
    """
    if face.ndim != 5:
        raise ValueError(f"face must be (B, T, 3, H, W), got {tuple(face.shape)}")
    B, T, C, H, W = face.shape
    k = kernels.shape[1]
    kern = kernels.repeat_interleave(T * C, dim=0)  # (B*T*C, k): one kernel per channel image
    x = face.reshape(1, B * T * C, H, W)  # (B, T, C, H, W) -> (1, B*T*C, H, W) for a grouped conv
    pad = k // 2
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    x = F.conv2d(x, kern[:, None, None, :], groups=B * T * C)  # horizontal pass
    x = F.conv2d(x, kern[:, None, :, None], groups=B * T * C)  # vertical pass
    return x.reshape(B, T, C, H, W)


def gaussian_blur(face: torch.Tensor, *, sigma: float) -> torch.Tensor:
    """Blur every frame of ``face`` ``(B, T, 3, S, S)`` with a Gaussian of ``sigma`` pixels.

    Kernel of ``2 * ceil(3 * sigma) + 1`` taps (capped to fit the image), reflected borders; the
    output is float32 of the input's shape.  (The degraded-face condition of
    :mod:`emolab.analysis.degradation`; training draws its own sigma per clip.)
    """
    if face.ndim != 5:
        raise ValueError(f"face must be (B, T, 3, S, S), got {tuple(face.shape)}")
    B, _, _, H, W = face.shape
    radius = min(int(math.ceil(3 * sigma)), min(H, W) - 1)
    kern = gaussian_kernels(float(sigma), 2 * radius + 1).to(face.device)  # (1, k), the same for every clip
    return blur_clips(face.float(), kern.expand(B, -1))


def augment_bio(bio: torch.Tensor, config: AugmentConfig, *, generator: torch.Generator) -> torch.Tensor:
    """Augment a batch of physiological segments.

    Parameters
    ----------
    bio : torch.Tensor, float, shape (B, C, L)
        Segments, channels by time samples.
    config : AugmentConfig
        ``bio_noise``: Gaussian noise with standard deviation ``noise_std`` times each channel's
        own standard deviation; ``bio_time_shift``: circular shift by an integer number of samples
        in [-max_shift, max_shift], the same for all channels of a segment; ``bio_scale``: one
        amplitude factor in [1 - scale, 1 + scale] per segment.
    generator : torch.Generator
        Source of randomness, on the same device as ``bio``.

    Returns
    -------
    torch.Tensor, shape (B, C, L)
    """
    if bio.ndim != 3:
        raise ValueError(f"bio must be (B, C, L), got {tuple(bio.shape)}")
    B, C, L = bio.shape
    dev = bio.device
    out = bio
    if config.bio_time_shift and config.max_shift > 0:
        shift = torch.randint(-config.max_shift, config.max_shift + 1, (B,), generator=generator, device=dev)
        idx = (torch.arange(L, device=dev)[None, :] - shift[:, None]) % L  # (B, L)
        out = out.gather(2, idx[:, None, :].expand(B, C, L))
    if config.bio_scale:
        factor = _uniform(B, 1 - config.scale, 1 + config.scale, generator=generator, device=dev)
        out = out * factor.to(out.dtype)[:, None, None]
    if config.bio_noise:
        std = out.std(dim=-1, keepdim=True)  # (B, C, 1)
        noise = torch.randn(out.shape, generator=generator, device=dev, dtype=out.dtype)
        out = out + noise * std * config.noise_std
    return out
