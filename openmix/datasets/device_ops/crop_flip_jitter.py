"""Batched device versions of RandomCrop (with padding), RandomHorizontalFlip and ColorJitter on uint8
``(B, 3, H, W)`` batches, with per-sample random parameters drawn from a device generator.

Each op is split in two: a pure function that applies given per-sample parameters (tested against the PIL transform
it replaces with the same parameters) and a pipeline op that draws them with the CPU transform's sampling rule. No
per-sample Python loops and no host synchronisation: every op is a gather or an elementwise pass.

* RandomCrop + padding: one gather with the padded coordinates mapped back into the image (``reflect``,
  ``symmetric``, ``edge``; ``constant`` fills), so it equals ``F.pad`` + ``crop`` exactly.
* RandomHorizontalFlip: exact.
* ColorJitter (brightness, contrast, saturation): Pillow's ``ImageEnhance`` arithmetic (``blend`` truncated to
  uint8, ITU-R 601 luma with Pillow's integer rounding, contrast around the rounded mean luma), in a per-sample
  random order like torchvision's ``ColorJitter``. Hue is not translated.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .common import uniform

__all__ = ['crop_padded', 'hflip', 'color_jitter', 'RandomCropOp', 'FlipOp', 'JitterOp']

_PAD_MODES = ('constant', 'edge', 'reflect', 'symmetric')


def _pad4(padding: int | Sequence[int] | None) -> tuple[int, int, int, int]:
    """torchvision's padding argument as (left, top, right, bottom)."""
    if not padding:
        return (0, 0, 0, 0)
    if isinstance(padding, int):
        return (padding,) * 4
    p = tuple(int(v) for v in padding)
    if len(p) == 2:
        return (p[0], p[1], p[0], p[1])
    if len(p) == 4:
        return p
    raise ValueError(f'padding must be an int or a sequence of 2 or 4 ints, got {padding!r}')


def _source_index(pos: torch.Tensor, size: int, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Map coordinates of the padded image (already shifted by the padding, so ``0..size-1`` is inside) to source
    indices; also whether each was inside (only ``constant`` needs it)."""
    inside = (pos >= 0) & (pos < size)
    if mode == 'reflect':  # ... 2 1 | 0 1 2 ... (edge pixel not repeated), as np.pad / F.pad 'reflect'
        period = 2 * (size - 1) if size > 1 else 1
        m = pos.remainder(period)
        src = torch.where(m < size, m, period - m)
    elif mode == 'symmetric':  # ... 1 0 | 0 1 ... (edge repeated)
        period = 2 * size
        m = pos.remainder(period)
        src = torch.where(m < size, m, period - 1 - m)
    else:  # edge, and constant (values outside replaced by the fill)
        src = pos.clamp(0, size - 1)
    return src, inside


def crop_padded(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: tuple[int, int],
                padding: int | Sequence[int] | None = None, padding_mode: str = 'constant', fill: int = 0
                ) -> torch.Tensor:
    """Per-sample crops of the padded images, without materialising the padding: ``F.pad`` then ``crop``.

    Args:
        x: ``(B, C, H, W)`` images (any dtype).
        top, left: ``(B,)`` integer crop corners in the *padded* image.
        size: ``(h, w)`` of the crop.
        padding, padding_mode, fill: As torchvision's ``F.pad`` (int, (lr, tb) or (l, t, r, b)).

    Returns:
        ``(B, C, h, w)`` crops, same dtype.
    """
    if padding_mode not in _PAD_MODES:
        raise ValueError(f'padding_mode must be one of {_PAD_MODES}, got {padding_mode!r}')
    b, _, height, width = x.shape
    h, w = size
    pl, pt, _, _ = _pad4(padding)
    dev = x.device
    rows, row_in = _source_index(top.to(dev).long()[:, None] + torch.arange(h, device=dev) - pt, height, padding_mode)
    cols, col_in = _source_index(left.to(dev).long()[:, None] + torch.arange(w, device=dev) - pl, width, padding_mode)
    batch = torch.arange(b, device=dev)[:, None, None]
    out = x[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # advanced dims first: (B, h, w, C)
    if padding_mode == 'constant':
        inside = (row_in[:, :, None] & col_in[:, None, :])[:, None]
        out = torch.where(inside, out, torch.full((), fill, dtype=x.dtype, device=dev))
    return out.contiguous()


def hflip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the samples where ``flip`` ``(B,)`` bool is set."""
    return torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)


# ------------------------------------------------------------------------------------------- colour
def _luma(x: torch.Tensor) -> torch.Tensor:
    """Pillow's ``convert('L')`` on integer-valued float RGB: ``(19595 R + 38470 G + 7471 B + 0x8000) >> 16``."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return torch.floor((r * 19595 + g * 38470 + b * 7471 + 32768) / 65536)


def _blend(degenerate: torch.Tensor, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Pillow's ``Image.blend(degenerate, x, factor)`` on uint8: float, clipped, truncated."""
    return torch.trunc((degenerate + factor * (x - degenerate)).clamp(0, 255))


def color_jitter(x: torch.Tensor, factors: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast and saturation with per-sample ``factors`` ``(B, 3)`` applied in per-sample ``order``
    ``(B, 3)`` (a permutation of 0 = brightness, 1 = contrast, 2 = saturation), as Pillow's ``ImageEnhance``.

    At each of the three positions every op runs with the sample's factor where it is that sample's op and factor
    1 elsewhere (exactly the identity in this arithmetic), so the whole batch follows per-sample orders in 9 passes.
    """
    dev = x.device
    y = x.float()
    factors, order = factors.to(dev).float(), order.to(dev)
    ones = torch.ones_like(factors[:, 0])
    for k in range(3):
        f = [torch.where(order[:, k] == op, factors[:, op], ones)[:, None, None, None] for op in range(3)]
        y = _blend(torch.zeros((), device=dev), y, f[0])
        mean = torch.floor(_luma(y).mean(dim=(1, 2, 3), keepdim=True) + 0.5)  # int(mean + 0.5) of the L image
        y = _blend(mean, y, f[1])
        y = _blend(_luma(y), y, f[2])
    return y.to(torch.uint8)


# ------------------------------------------------------------------------------------------- pipeline ops
class RandomCropOp:
    """``RandomCrop(size, padding, padding_mode, fill)``: corners uniform in the padded image."""

    def __init__(self, size, padding=None, padding_mode='constant', fill=0):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.padding, self.padding_mode, self.fill = padding, padding_mode, fill
        if padding_mode not in _PAD_MODES:
            raise ValueError(f'RandomCrop: padding_mode must be one of {_PAD_MODES}, got {padding_mode!r}')
        self.pad = _pad4(padding)

    def __call__(self, x, g):
        b, _, height, width = x.shape
        ph, pw = height + self.pad[1] + self.pad[3], width + self.pad[0] + self.pad[2]
        h, w = self.size
        if ph < h or pw < w:
            raise ValueError(f'RandomCrop: images are {ph}x{pw} after padding, smaller than the crop {h}x{w}')
        u = uniform((b, 2), g, x.device)
        top = torch.floor(u[:, 0] * (ph - h + 1)).clamp_max(ph - h)
        left = torch.floor(u[:, 1] * (pw - w + 1)).clamp_max(pw - w)
        return crop_padded(x, top, left, self.size, self.padding, self.padding_mode, self.fill)


class FlipOp:
    """``RandomHorizontalFlip(prob)``."""

    def __init__(self, prob=0.5):
        if not 0 <= prob <= 1:
            raise ValueError(f'RandomHorizontalFlip: prob must be in [0, 1], got {prob}')
        self.prob = prob

    def __call__(self, x, g):
        return hflip(x, uniform((x.shape[0],), g, x.device) < self.prob)


class JitterOp:
    """``ColorJitter(brightness, contrast, saturation)``, factors uniform in torchvision's ranges, random order."""

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.0):
        if hue:
            raise ValueError(f'ColorJitter: hue={hue} has no device version (set hue=0, or use the DataLoader path)')
        self.ranges = []
        for name, v in (('brightness', brightness), ('contrast', contrast), ('saturation', saturation)):
            lo, hi = (max(0.0, 1 - v), 1 + v) if isinstance(v, (int, float)) else tuple(v)
            self.ranges.append((float(lo), float(hi)))

    def __call__(self, x, g):
        b = x.shape[0]
        lo = torch.tensor([r[0] for r in self.ranges], device=x.device)
        hi = torch.tensor([r[1] for r in self.ranges], device=x.device)
        factors = lo + (hi - lo) * uniform((b, 3), g, x.device)
        order = uniform((b, 3), g, x.device).argsort(1)  # a uniform random permutation per sample
        return color_jitter(x, factors, order)
