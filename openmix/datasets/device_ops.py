"""Batched device versions of the CPU train transforms (RandomCrop, RandomHorizontalFlip, RandomResizedCrop,
ColorJitter) on uint8 ``(B, 3, H, W)`` batches, with per-sample random parameters drawn from a device generator.

Each op is split in two: a pure function that applies given per-sample parameters (tested against the PIL transform
it replaces with the same parameters) and a draw of those parameters with the CPU transform's sampling rule. No
per-sample Python loops and no host synchronisation: every op is a gather, a batched matmul or an elementwise pass.

* RandomCrop + padding: one gather with the padded coordinates mapped back into the image (``reflect``,
  ``symmetric``, ``edge``; ``constant`` fills), so it equals ``F.pad`` + ``crop`` exactly.
* RandomHorizontalFlip: exact.
* RandomResizedCrop: the box rule of torchvision/timm (10 tries of area/log-ratio, then the centre crop), and the
  resize as two batched matmuls with Pillow's own filter weights (bicubic ``a = -0.5`` or bilinear, support widened
  when shrinking, i.e. antialiased like PIL), horizontal pass first with the intermediate rounded to uint8 as Pillow
  does. What differs from PIL: the sums are float32 instead of Pillow's 22-bit fixed point, so a value at an exact
  half rounds either way (at most 1 grey level, on a small fraction of the pixels; the tests bound both); and for
  crops *shrunk on both axes* Pillow sometimes runs the vertical pass first, which is not reproduced (its rule is
  not known here): a few grey levels on a few pixels. Crops to the image's own size (CIFAR, Tiny-ImageNet, demo)
  never shrink, and match within the rounding.
* ColorJitter (brightness, contrast, saturation): Pillow's ``ImageEnhance`` arithmetic (``blend`` truncated to
  uint8, ITU-R 601 luma with Pillow's integer rounding, contrast around the rounded mean luma), in a per-sample
  random order like torchvision's ``ColorJitter``. Hue is not translated.

Example:
    >>> pipe = DevicePipeline([dict(type='RandomCrop', size=32, padding=4, padding_mode='reflect'),
    ...                        dict(type='RandomHorizontalFlip'), dict(type='PackInputs')])
    >>> out = pipe(images_uint8, torch.Generator().manual_seed(0))  # (B, 3, 32, 32) uint8
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ['crop_padded', 'hflip', 'resized_crop', 'rrc_boxes', 'color_jitter', 'DevicePipeline',
           'TRANSLATED_TRANSFORMS']

_PAD_MODES = ('constant', 'edge', 'reflect', 'symmetric')


def _rand(shape: Sequence[int], g: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(tuple(shape), generator=g, device=device)


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


# ------------------------------------------------------------------------------------------- resized crop
def _bicubic(t: torch.Tensor) -> torch.Tensor:
    a = -0.5  # Pillow's bicubic (torch/OpenCV use -0.75)
    t = t.abs()
    near = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
    far = (((t - 5.0) * t + 8.0) * t - 4.0) * a
    return torch.where(t < 1.0, near, torch.where(t < 2.0, far, torch.zeros_like(t)))


def _triangle(t: torch.Tensor) -> torch.Tensor:
    return (1.0 - t.abs()).clamp_min(0.0)


_FILTERS = {'bicubic': (_bicubic, 2.0), 'bilinear': (_triangle, 1.0)}


def _resample_weights(in_size: int, start: torch.Tensor, length: torch.Tensor, out_size: int, interpolation: str
                      ) -> torch.Tensor:
    """``(B, out_size, in_size)`` Pillow resampling weights from the window ``[start, start + length)`` of an axis.

    Pillow (``Resample.c``): output pixel ``o`` is centred at ``(o + 0.5) * scale`` in the window, a source pixel
    ``p`` gets ``filter((p + 0.5 - centre) / max(scale, 1))``, restricted to the window and normalised to sum 1;
    the weights are then quantised to 22 fractional bits (done here too, exactly representable in float32).
    """
    fn, _ = _FILTERS[interpolation]
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


def resized_crop(x: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], interpolation: str = 'bilinear'
                 ) -> torch.Tensor:
    """Crop ``boxes`` ``(B, 4)`` = ``(top, left, height, width)`` and resize each to ``size``: ``F.resized_crop`` of
    a PIL image, batched (see the module docstring for what differs).

    Args:
        x: ``(B, C, H, W)`` uint8 images.
        boxes: ``(B, 4)`` integer boxes inside the images.
        size: ``(h, w)`` output size.
        interpolation: ``'bilinear'`` or ``'bicubic'`` (Pillow's filters).

    Returns:
        ``(B, C, h, w)`` uint8.
    """
    if interpolation not in _FILTERS:
        raise ValueError(f'interpolation must be one of {tuple(_FILTERS)} on the device, got {interpolation!r}')
    _, _, height, width = x.shape
    boxes = boxes.to(x.device)
    wy = _resample_weights(height, boxes[:, 0], boxes[:, 2], size[0], interpolation)  # (B, oh, H)
    wx = _resample_weights(width, boxes[:, 1], boxes[:, 3], size[1], interpolation)  # (B, ow, W)
    x = x.float()
    out = _round_u8(torch.matmul(wy[:, None], _round_u8(torch.matmul(x, wx.transpose(1, 2)[:, None]))))
    if size[0] < height:  # a box may shrink vertically: Pillow then runs the vertical pass first when the
        # horizontal one enlarges (observed on Pillow 13; crops shrunk on both axes keep horizontal-first here)
        v_first = _round_u8(torch.matmul(_round_u8(torch.matmul(wy[:, None], x)), wx.transpose(1, 2)[:, None]))
        swap = (boxes[:, 2] > size[0]) & (boxes[:, 3] < size[1])
        out = torch.where(swap[:, None, None, None], v_first, out)
    return out.to(torch.uint8)


def rrc_boxes(n: int, height: int, width: int, scale: Sequence[float], ratio: Sequence[float], g: torch.Generator,
              device: torch.device, attempts: int = 10) -> torch.Tensor:
    """``(n, 4)`` boxes ``(top, left, h, w)`` with torchvision's ``RandomResizedCrop.get_params`` rule, per sample:
    up to 10 draws of area (uniform in ``scale``) and aspect ratio (log-uniform in ``ratio``), the first that fits;
    else the whole image clamped to the ratio range, centred. All tries are drawn at once."""
    area = float(height * width)
    target = area * (scale[0] + (scale[1] - scale[0]) * _rand((n, attempts), g, device))
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(lo + (hi - lo) * _rand((n, attempts), g, device))
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = ok.to(torch.uint8).argmax(1, keepdim=True)
    found = ok.any(1)
    w, h = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0]
    u = _rand((n, 2), g, device)
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


# ------------------------------------------------------------------------------------------- pipeline
class _Crop:
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
        u = _rand((b, 2), g, x.device)
        top = torch.floor(u[:, 0] * (ph - h + 1)).clamp_max(ph - h)
        left = torch.floor(u[:, 1] * (pw - w + 1)).clamp_max(pw - w)
        return crop_padded(x, top, left, self.size, self.padding, self.padding_mode, self.fill)


class _Flip:
    def __init__(self, prob=0.5):
        if not 0 <= prob <= 1:
            raise ValueError(f'RandomHorizontalFlip: prob must be in [0, 1], got {prob}')
        self.prob = prob

    def __call__(self, x, g):
        return hflip(x, _rand((x.shape[0],), g, x.device) < self.prob)


class _ResizedCrop:
    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interpolation='bilinear'):
        if interpolation not in _FILTERS:
            raise ValueError(f'RandomResizedCrop: interpolation {interpolation!r} has no device version '
                             f'(use one of {tuple(_FILTERS)}, or the DataLoader path)')
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.scale, self.ratio, self.interpolation = tuple(scale), tuple(ratio), interpolation

    def __call__(self, x, g):
        boxes = rrc_boxes(x.shape[0], x.shape[2], x.shape[3], self.scale, self.ratio, g, x.device)
        return resized_crop(x, boxes, self.size, self.interpolation)


class _Jitter:
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
        factors = lo + (hi - lo) * _rand((b, 3), g, x.device)
        order = _rand((b, 3), g, x.device).argsort(1)  # a uniform random permutation per sample
        return color_jitter(x, factors, order)


#: CPU transform type -> its batched device version
TRANSLATED_TRANSFORMS = {'RandomCrop': _Crop, 'RandomHorizontalFlip': _Flip, 'RandomResizedCrop': _ResizedCrop,
                         'ColorJitter': _Jitter}


class DevicePipeline:
    """A dataset's train ``pipeline`` (configs of ``TRANSFORMS``) translated to batched device ops, in order.

    The last entry must be ``PackInputs`` without ``meta_keys``; anything without a device version is refused with
    a message naming it.

    Args:
        pipeline: The dataset's pipeline configs.
    """

    def __init__(self, pipeline: Sequence[dict]) -> None:
        self.ops, self.names = [], []
        pipeline = list(pipeline)
        for i, t in enumerate(pipeline):
            name = t.get('type') if isinstance(t, dict) else type(t).__name__
            if name == 'PackInputs' and isinstance(t, dict):
                if i != len(pipeline) - 1 or t.get('meta_keys'):
                    raise ValueError('device_resident: PackInputs must be the last transform and have no meta_keys '
                                     f'(got pipeline[{i}] = {t}); the device path yields only inputs and gt_label')
                continue
            if not isinstance(t, dict) or name not in TRANSLATED_TRANSFORMS:
                raise ValueError(f'device_resident: pipeline[{i}] {name} has no batched device version (translated: '
                                 f'{", ".join(TRANSLATED_TRANSFORMS)}, PackInputs); remove it or use the DataLoader '
                                 f'path (drop train_dataloader.device_resident)')
            args = {k: v for k, v in t.items() if k != 'type'}
            try:
                self.ops.append(TRANSLATED_TRANSFORMS[name](**args))
            except TypeError as e:
                raise ValueError(f'device_resident: pipeline[{i}] {name}: {e}') from e
            self.names.append(name)

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Augment a uint8 ``(B, 3, H, W)`` batch with draws from ``g`` (a generator on ``x.device``)."""
        for op in self.ops:
            x = op(x, g)
        return x

    def __repr__(self) -> str:
        return f'DevicePipeline({self.names})'
