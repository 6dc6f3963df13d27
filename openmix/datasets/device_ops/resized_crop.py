"""Batched RandomResizedCrop on uint8 ``(B, 3, H, W)`` batches: per-sample boxes and Pillow's resampling.

* The box rule of torchvision/timm (10 tries of area/log-ratio, then the centre crop), all tries drawn at once.
* The resize as two batched matmuls with Pillow's own filter weights (bicubic ``a = -0.5`` or bilinear, support
  widened when shrinking, i.e. antialiased like PIL) and the intermediate rounded to uint8 between the passes, in
  Pillow's pass order: horizontal first up to Pillow 12; from Pillow 13 (``ImagingResampleInner``) vertical first
  when the height shrinks by more than twice as many pixels as the width (``h - oh > 0`` and
  ``h - oh > 2 (w - ow)`` for a crop ``h x w`` resized to ``oh x ow``, as torchvision crops before resizing). The
  rule of the installed Pillow is used by default (``pillow_order``), so the device path equals the DataLoader path
  of the same environment; ``pillow_order='horizontal'`` gives Pillow <= 12's results on a newer Pillow.
  What differs from PIL: the sums are float32 instead of Pillow's 22-bit fixed point, so a value at an exact half
  rounds either way: at most 1 grey level, on about 1e-4 of the values with bicubic and 1 % with bilinear over
  random crops enlarged or shrunk on either axis (the tests bound both). With the other pass order 20-27 % of the
  values of the crops concerned differ, by up to 22 grey levels (bicubic).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .common import uniform

__all__ = ['resized_crop', 'rrc_boxes', 'ResizedCropOp', 'FILTERS']


def _bicubic(t: torch.Tensor) -> torch.Tensor:
    a = -0.5  # Pillow's bicubic (torch/OpenCV use -0.75)
    t = t.abs()
    near = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
    far = (((t - 5.0) * t + 8.0) * t - 4.0) * a
    return torch.where(t < 1.0, near, torch.where(t < 2.0, far, torch.zeros_like(t)))


def _triangle(t: torch.Tensor) -> torch.Tensor:
    return (1.0 - t.abs()).clamp_min(0.0)


FILTERS = {'bicubic': (_bicubic, 2.0), 'bilinear': (_triangle, 1.0)}


def _resample_weights(in_size: int, start: torch.Tensor, length: torch.Tensor, out_size: int, interpolation: str
                      ) -> torch.Tensor:
    """``(B, out_size, in_size)`` Pillow resampling weights from the window ``[start, start + length)`` of an axis.

    Pillow (``Resample.c``): output pixel ``o`` is centred at ``(o + 0.5) * scale`` in the window, a source pixel
    ``p`` gets ``filter((p + 0.5 - centre) / max(scale, 1))``, restricted to the window and normalised to sum 1;
    the weights are then quantised to 22 fractional bits (done here too, exactly representable in float32).
    """
    fn, _ = FILTERS[interpolation]
    dev = start.device
    length = length.to(torch.float64)
    scale = length / out_size  # (B,)
    filterscale = scale.clamp_min(1.0)
    centre = (torch.arange(out_size, device=dev, dtype=torch.float64) + 0.5)[None] * scale[:, None]  # (B, out)
    p = torch.arange(in_size, device=dev, dtype=torch.float64)[None] - start.to(torch.float64)[:, None]  # (B, in)
    w = fn((p[:, None, :] + 0.5 - centre[:, :, None]) / filterscale[:, None, None])
    w = w * ((p >= 0) & (p < length[:, None]))[:, None, :]
    w = w / w.sum(-1, keepdim=True)
    bits = float(1 << 22)
    w = torch.where(w >= 0, torch.floor(w * bits + 0.5), torch.ceil(w * bits - 0.5)) / bits
    return w.to(torch.float32)


def _round_u8(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x + 0.5).clamp_(0, 255)


def _installed_pillow_order() -> str:
    """``'pillow13'`` when the installed Pillow picks the pass order (13.0 and later), else ``'horizontal'``."""
    try:
        import PIL
        major = int(PIL.__version__.split('.')[0])
    except (ImportError, ValueError):
        return 'horizontal'
    return 'pillow13' if major >= 13 else 'horizontal'


PILLOW_ORDERS = ('horizontal', 'pillow13')


def resized_crop(x: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], interpolation: str = 'bilinear',
                 pillow_order: str | None = None) -> torch.Tensor:
    """Crop ``boxes`` ``(B, 4)`` = ``(top, left, height, width)`` and resize each to ``size``: ``F.resized_crop`` of
    a PIL image, batched (see the module docstring for what differs).

    Args:
        x: ``(B, C, H, W)`` uint8 images.
        boxes: ``(B, 4)`` integer boxes inside the images.
        size: ``(h, w)`` output size.
        interpolation: ``'bilinear'`` or ``'bicubic'`` (Pillow's filters).
        pillow_order: ``'horizontal'`` (Pillow <= 12: horizontal pass first), ``'pillow13'`` (Pillow >= 13: vertical
            first when the height shrinks by more than twice the width's shrink), or None: the installed Pillow's.

    Returns:
        ``(B, C, h, w)`` uint8.
    """
    if interpolation not in FILTERS:
        raise ValueError(f'interpolation must be one of {tuple(FILTERS)} on the device, got {interpolation!r}')
    order = pillow_order or _installed_pillow_order()
    if order not in PILLOW_ORDERS:
        raise ValueError(f'pillow_order must be one of {PILLOW_ORDERS} or None, got {pillow_order!r}')
    _, _, height, width = x.shape
    boxes = boxes.to(x.device)
    wy = _resample_weights(height, boxes[:, 0], boxes[:, 2], size[0], interpolation)  # (B, oh, H)
    wx = _resample_weights(width, boxes[:, 1], boxes[:, 3], size[1], interpolation)  # (B, ow, W)
    x = x.float()
    out = _round_u8(torch.matmul(wy[:, None], _round_u8(torch.matmul(x, wx.transpose(1, 2)[:, None]))))
    if order == 'pillow13' and size[0] < height:  # only a box taller than the output can go vertical-first
        shrink_h, shrink_w = boxes[:, 2] - size[0], boxes[:, 3] - size[1]
        v_first = (shrink_h > 0) & (shrink_h > 2 * shrink_w)  # Pillow 13's ImagingResampleInner rule
        vertical = _round_u8(torch.matmul(_round_u8(torch.matmul(wy[:, None], x)), wx.transpose(1, 2)[:, None]))
        out = torch.where(v_first[:, None, None, None], vertical, out)
    return out.to(torch.uint8)


def rrc_boxes(n: int, height: int, width: int, scale: Sequence[float], ratio: Sequence[float], g: torch.Generator,
              device: torch.device, attempts: int = 10) -> torch.Tensor:
    """``(n, 4)`` boxes ``(top, left, h, w)`` with torchvision's ``RandomResizedCrop.get_params`` rule, per sample:
    up to 10 draws of area (uniform in ``scale``) and aspect ratio (log-uniform in ``ratio``), the first that fits;
    else the whole image clamped to the ratio range, centred. All tries are drawn at once."""
    area = float(height * width)
    target = area * (scale[0] + (scale[1] - scale[0]) * uniform((n, attempts), g, device))
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(lo + (hi - lo) * uniform((n, attempts), g, device))
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = ok.to(torch.uint8).argmax(1, keepdim=True)
    found = ok.any(1)
    w, h = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0]
    u = uniform((n, 2), g, device)
    top = torch.floor(u[:, 0] * (height - h + 1)).clamp_max(height - h)
    left = torch.floor(u[:, 1] * (width - w + 1)).clamp_max(width - w)
    in_ratio = width / height  # fallback: torchvision's central crop
    if in_ratio < min(ratio):
        fw, fh = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        fw, fh = int(round(height * max(ratio))), height
    else:
        fw, fh = width, height
    fallback = torch.tensor([(height - fh) // 2, (width - fw) // 2, fh, fw], device=device, dtype=torch.float32)
    boxes = torch.stack([top, left, h, w], 1)
    return torch.where(found[:, None], boxes, fallback).long()


# ------------------------------------------------------------------------------------------- pipeline op
class ResizedCropOp:
    """``RandomResizedCrop(size, scale, ratio, interpolation)`` with bicubic or bilinear resampling."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interpolation='bilinear'):
        if interpolation not in FILTERS:
            raise ValueError(f'RandomResizedCrop: interpolation {interpolation!r} has no device version '
                             f'(use one of {tuple(FILTERS)}, or the DataLoader path)')
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.scale, self.ratio, self.interpolation = tuple(scale), tuple(ratio), interpolation

    def __call__(self, x, g):
        boxes = rrc_boxes(x.shape[0], x.shape[2], x.shape[3], self.scale, self.ratio, g, x.device)
        return resized_crop(x, boxes, self.size, self.interpolation)
