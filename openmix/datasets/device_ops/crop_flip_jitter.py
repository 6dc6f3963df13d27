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
  random order like torchvision's ``ColorJitter``. Hue: torchvision's PIL ``adjust_hue`` (Pillow's RGB -> HSV,
  shifted hue with uint8 wrap-around, HSV -> RGB) reproduced exactly, the 4 ops then in a per-sample random order.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
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


# Pillow's RGB <-> HSV conversions (libImaging/Convert.c, ``rgb2hsv_row`` / ``hsv2rgb``) reproduced on uint8 values:
# saturation, value and the whole HSV -> RGB direction are float32 formulas that equal Pillow's float/double C code on
# all 2**24 inputs (checked exhaustively against Pillow 13 on x86-64); the hue of RGB -> HSV depends on Pillow's
# float/double rounding (the exact rational formula misses it on 47k of the 2**24 colours, a float32 one on 72k), so
# it is a (3, 256, 511) uint8 table built once per device on the host in numpy with Pillow's own float32 / float64
# steps, indexed by (max channel, max - min, signed difference of the other two): one gather per pixel.
_HUE_TABLES: dict = {}
_HSV_SECTORS = ((0, 3, 1), (2, 0, 1), (1, 0, 3), (1, 2, 0), (3, 1, 0), (0, 1, 2))  # (R, G, B) from (v, p, q, t)


def _pil_hue_table() -> np.ndarray:
    """Pillow's 8-bit hue, ``(3, 256, 511)`` uint8 indexed by ``[case, cr, d + 255]``: ``case`` the channel Pillow
    takes as the maximum (0 R, 1 G, 2 B, first wins on ties), ``cr = max - min``, ``d`` the difference of the other
    two (G - B, B - R, R - G). The hue only depends on these; the C steps are redone in the same precisions."""
    f32, f64 = np.float32, np.float64
    cr = np.arange(256, dtype=f32)[:, None]
    d = np.arange(-255, 256, dtype=f32)[None]
    crs = np.maximum(cr, 1).astype(f32)
    # with d = p - q for the other two channels (p, q) = (G, B), (B, R), (R, G): hue = 2 case + a - b in the C code,
    # a = (max - q) / cr and b = (max - p) / cr, where the smaller of p and q is the minimum
    a = (np.where(d >= 0, cr, cr + d) / crs).astype(f32)
    b = (np.where(d >= 0, cr - d, cr) / crs).astype(f32)
    out = np.zeros((3, 256, 511), np.uint8)
    for case in range(3):
        # R max: ``bc - gc`` in float; G / B max: ``2.0 + rc - bc`` / ``4.0 + gc - rc`` in double, stored as float
        h = (a - b) if case == 0 else (2.0 * case + a.astype(f64) - b.astype(f64)).astype(f32)
        h = np.fmod(h.astype(f64) / 6.0 + 1.0, 1.0).astype(f32)
        u = np.clip(np.trunc(h.astype(f64) * 255.0), 0, 255)
        out[case] = np.where((np.abs(d) <= cr) & (cr > 0), u, 0).astype(np.uint8)
    return out


def _hue_tables(dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The hue table (flattened) and the HSV sector table on ``dev``, built once per device."""
    if dev not in _HUE_TABLES:
        _HUE_TABLES[dev] = (torch.from_numpy(_pil_hue_table().reshape(-1)).to(dev, torch.float32),
                            torch.tensor(_HSV_SECTORS, dtype=torch.long, device=dev))
    return _HUE_TABLES[dev]


def _hue_shift(factor: torch.Tensor) -> torch.Tensor:
    """torchvision's ``np.int32(hue_factor * 255)`` (truncation of the exact product) for float32 factors, modulo
    256, in float32: ``trunc(fl(255 f))`` overshoots by one where the product rounds up onto an integer; the sign of
    ``(256 f - n) - f`` (exact subtraction, then one correctly rounded one) is that of ``255 f - n`` and finds it."""
    n = torch.trunc(factor * 255)
    e = (factor * 256 - n) - factor
    n = n - ((n > 0) & (e < 0)).float() + ((n < 0) & (e > 0)).float()
    return n.remainder(256)


def _adjust_hue(y: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """torchvision's PIL ``adjust_hue``: Pillow's RGB -> HSV, ``hue += int(factor * 255)`` with uint8 wrap-around,
    HSV -> RGB, on integer-valued float ``(B, 3, H, W)`` with per-sample ``factor`` ``(B,)`` in [-0.5, 0.5]."""
    lut, sectors = _hue_tables(y.device)
    r, g, b = y[:, 0:1], y[:, 1:2], y[:, 2:3]
    mx, mn = torch.maximum(torch.maximum(r, g), b), torch.minimum(torch.minimum(r, g), b)
    cr = mx - mn
    is_r, is_g = r == mx, g == mx
    case = torch.where(is_r, 0.0, torch.where(is_g, 1.0, 2.0))
    d = torch.where(is_r, g - b, torch.where(is_g, b - r, r - g))
    hue = lut[((case * 256 + cr) * 511 + d + 255).long()]
    sat = torch.floor(cr * 255 / mx.clamp_min(1))  # = Pillow's (int)((float)(cr / max) * 255.0) on every input
    hue = (hue + _hue_shift(factor)[:, None, None, None]).remainder(256)
    # HSV -> RGB: sector i = floor(6 h / 255), f its remainder, p / q / t rounded half up as Pillow's round()
    sector = torch.floor(hue * 6 / 255)
    f = (hue * 6 - sector * 255) / 255
    fs = sat / 255
    p = torch.floor(mx * (1 - fs) + 0.5)
    q = torch.floor(mx * (1 - fs * f) + 0.5)
    t = torch.floor(mx * (1 - fs * (1 - f)) + 0.5)
    vpqt = torch.cat([mx, p, q, t], 1).clamp(0, 255)  # (saturation 0: p = q = t = v, Pillow's grey case)
    idx = sectors[sector.remainder(6).long()[:, 0]].permute(0, 3, 1, 2)  # (B, 3, H, W) indices into v, p, q, t
    return vpqt.gather(1, idx)


def color_jitter(x: torch.Tensor, factors: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast, saturation (and hue) with per-sample ``factors`` ``(B, 3)`` (or ``(B, 4)``) applied in
    per-sample ``order`` of the same shape (a permutation of 0 = brightness, 1 = contrast, 2 = saturation,
    3 = hue), as torchvision's ``ColorJitter`` on PIL images.

    Brightness, contrast and saturation are Pillow's ``ImageEnhance`` arithmetic. At each position every one of them
    runs with the sample's factor where it is that sample's op and factor 1 elsewhere (exactly the identity in this
    arithmetic), so the whole batch follows per-sample orders in 9 passes (3 ops) or 12 (4 ops).

    Hue (column 3, factor in [-0.5, 0.5]) is torchvision's PIL ``adjust_hue``: Pillow's RGB -> HSV, the hue channel
    shifted by ``int(factor * 255)`` with uint8 wrap-around, HSV -> RGB. The round trip is not the identity even for
    factor 0 (as in PIL), so at each of the 4 positions it is computed for the batch and kept where it is the
    sample's op (4 hue passes). It equals PIL's ``adjust_hue`` exactly: both conversions reproduce Pillow's C code
    bit for bit (each checked on all 2**24 inputs against Pillow 13 on x86-64; Pillow built with fused multiply-add
    contraction, e.g. on aarch64, could differ by a level on rare values), and the shift is torchvision's
    truncation of ``factor * 255``. Measured against torchvision's PIL functional ops in the same per-image order,
    over 370k values each (random uint8 images of 8x9, 24x24 and 32x40, uniform factors, hue in [-0.5, 0.5]): hue
    alone max abs diff 0, mean 0, 0 % of values differing; hue with brightness / contrast / saturation (factors
    in [0.6, 1.4]) also 0 / 0 / 0 %. The bound the 3-op path documents (1 grey level, from the brightness /
    contrast / saturation float arithmetic) still applies, and a hue op after such a difference could widen it on
    that pixel.
    """
    dev = x.device
    y = x.float()
    factors, order = factors.to(dev).float(), order.to(dev)
    n_ops = factors.shape[1]
    if n_ops not in (3, 4) or tuple(order.shape) != tuple(factors.shape):
        raise ValueError(f'color_jitter: factors and order must both be (B, 3) or (B, 4), got '
                         f'{tuple(factors.shape)} and {tuple(order.shape)}')
    ones = torch.ones_like(factors[:, 0])
    for k in range(n_ops):
        f = [torch.where(order[:, k] == op, factors[:, op], ones)[:, None, None, None] for op in range(3)]
        y = _blend(torch.zeros((), device=dev), y, f[0])
        mean = torch.floor(_luma(y).mean(dim=(1, 2, 3), keepdim=True) + 0.5)  # int(mean + 0.5) of the L image
        y = _blend(mean, y, f[1])
        y = _blend(_luma(y), y, f[2])
        if n_ops == 4:
            y = torch.where((order[:, k] == 3)[:, None, None, None], _adjust_hue(y, factors[:, 3]), y)
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
    """``ColorJitter(brightness, contrast, saturation, hue)``: factors uniform in torchvision's ranges, random order.

    ``hue`` is a number in [0, 0.5] (factors uniform in [-hue, hue]) or a ``(lo, hi)`` pair within [-0.5, 0.5], as
    torchvision; anything else raises ``ValueError``. Hue is torchvision's PIL ``adjust_hue`` reproduced bit for bit
    (see :func:`color_jitter`: 0 values differing from PIL measured over random images and factors).

    Draws from ``g`` per batch of ``B``: without hue (``hue`` 0 or ``(0, 0)``, torchvision's "no hue op") ``B x 3``
    uniforms for the factors, then ``B x 3`` for the order (their per-row argsort, a uniform random permutation of
    the 3 ops); with hue ``B x 4`` and ``B x 4`` the same way, the 4th factor the hue factor and the order a
    permutation of the 4 ops, as torchvision's per-image ``randperm(4)`` (its own draws are not reproduced).
    """

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.0):
        self.ranges = []
        for name, v in (('brightness', brightness), ('contrast', contrast), ('saturation', saturation)):
            lo, hi = (max(0.0, 1 - v), 1 + v) if isinstance(v, (int, float)) else tuple(v)
            self.ranges.append((float(lo), float(hi)))
        hue_range = _hue_range(hue)
        if hue_range != (0.0, 0.0):
            self.ranges.append(hue_range)

    def __call__(self, x, g):
        b, n = x.shape[0], len(self.ranges)
        lo = torch.tensor([r[0] for r in self.ranges], device=x.device)
        hi = torch.tensor([r[1] for r in self.ranges], device=x.device)
        factors = lo + (hi - lo) * uniform((b, n), g, x.device)
        order = uniform((b, n), g, x.device).argsort(1)  # a uniform random permutation per sample
        return color_jitter(x, factors, order)


def _hue_range(hue) -> tuple[float, float]:
    """torchvision's hue argument as a ``(lo, hi)`` range: ``h`` -> ``(-h, h)`` for ``0 <= h <= 0.5``, or a pair with
    ``-0.5 <= lo <= hi <= 0.5``."""
    def real(v):
        return isinstance(v, numbers.Real) and not isinstance(v, bool)

    if real(hue) and 0 <= hue <= 0.5:
        return (-float(hue), float(hue)) if hue else (0.0, 0.0)
    if (isinstance(hue, (tuple, list)) and len(hue) == 2 and all(real(v) for v in hue)
            and -0.5 <= hue[0] <= hue[1] <= 0.5):
        return (float(hue[0]) + 0.0, float(hue[1]) + 0.0)
    raise ValueError(f'ColorJitter: hue must be a number in [0, 0.5] or a (lo, hi) pair with -0.5 <= lo <= hi <= 0.5, '
                     f'got {hue!r}')
