"""timm's RandAugment (Cubuk et al. 2020, https://arxiv.org/abs/1909.13719) batched on the device.

Same policy as ``timm.data.auto_augment.rand_augment_transform`` (e.g. DeiT's ``'rand-m9-mstd0.5-inc1'``): for each
image, ``n`` ops drawn uniformly *with* replacement from timm's op list (timm's ``np.random.choice`` replaces unless
choice weights are given), each applied with probability ``p`` at magnitude ``N(m, mstd)`` clipped to ``[0, mmax]``
and a random sign where timm negates. Ops reproduce Pillow's arithmetic on uint8 ``(B, 3, H, W)`` batches:

* point ops (AutoContrast, Equalize, Invert, Posterize, Solarize, SolarizeAdd) build one 256-entry look-up table per
  sample and channel (histograms by ``scatter_add``), applied with one ``gather``;
* enhance ops (Color, Contrast, Brightness, Sharpness) blend with Pillow's degenerate image (grey ``L``, grey mean,
  black, 3x3 SMOOTH) in float32 with Pillow's truncation;
* geometric ops (Rotate, ShearX/Y, TranslateX/Y, Rel or Abs) build one 2x3 inverse-affine matrix per sample (Pillow's
  pixel-centre convention) and sample with Pillow's own nearest/bilinear/bicubic (cubic a = -1) filters, neighbours
  clamped at the border, ``img_mean`` outside.

Parameters are drawn per batch on the host from a CPU ``torch.Generator`` (``self.generator``, saved in checkpoints by
``RandomStateHook``), so a seed gives the same choices on every device; images never leave the device, samples are
grouped by op family with host-known indices (no device-to-host sync). Posterize keeping 0 bits gives black (as
:func:`openmix.datasets.transforms.safe_posterize`). timm's weighted op set (``-tweights``: ops drawn *without*
replacement with timm's weights, as ``np.random.choice(replace=False, p=w)``, here by Gumbel top-k, the same
distribution) and ``interpolation='random'`` (each geometric op application picks bilinear or bicubic with
probability 1/2, as timm's ``_check_args_tf``) are supported; the op sets ``-t3a``/``-t3aw`` (Desaturate,
GaussianBlur) are not.

Two places to use it: ``model.data_preprocessor.device_augment=dict(type='DeviceRandAugment', ...)`` (any loader;
draws from ``self.generator``), or a ``RandAugment`` in the pipeline of a device-resident train set
(``train_dataloader.device_resident=True``), where :class:`RandAugmentOp` runs it at its place in the pipeline with
draws derived from each batch's seed (exact resume, also from inside an epoch).

Example:
    >>> aug = DeviceRandAugment('rand-m9-mstd0.5-inc1', img_mean=(124, 116, 104), seed=0)
    >>> out = aug(torch.randint(0, 256, (64, 3, 64, 64), dtype=torch.uint8))  # uint8 (64, 3, 64, 64)
"""
from __future__ import annotations

import math
import re
from typing import Sequence

import torch
from torch import nn

from openmix.registry import TRANSFORMS

__all__ = ['DeviceRandAugment', 'RandAugmentOp', 'apply_op', 'affine_warp', 'OP_FAMILY', 'RAND_TRANSFORMS',
           'RAND_INCREASING_TRANSFORMS']

#: timm's ``_RAND_TRANSFORMS`` and ``_RAND_INCREASING_TRANSFORMS``, in timm's order
RAND_TRANSFORMS = ('AutoContrast', 'Equalize', 'Invert', 'Rotate', 'Posterize', 'Solarize', 'SolarizeAdd', 'Color',
                   'Contrast', 'Brightness', 'Sharpness', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel')
RAND_INCREASING_TRANSFORMS = ('AutoContrast', 'Equalize', 'Invert', 'Rotate', 'PosterizeIncreasing',
                              'SolarizeIncreasing', 'SolarizeAdd', 'ColorIncreasing', 'ContrastIncreasing',
                              'BrightnessIncreasing', 'SharpnessIncreasing', 'ShearX', 'ShearY', 'TranslateXRel',
                              'TranslateYRel')
#: timm's ``_RAND_WEIGHTED_0`` (``-tweights``): op -> relative choice weight (normalised to sum 1 when used)
RAND_WEIGHTED_0 = {'Rotate': 3, 'ShearX': 2, 'ShearY': 2, 'TranslateXRel': 1, 'TranslateYRel': 1,
                   'ColorIncreasing': .25, 'SharpnessIncreasing': .25, 'AutoContrast': .25, 'SolarizeIncreasing': .05,
                   'SolarizeAdd': .05, 'ContrastIncreasing': .05, 'BrightnessIncreasing': .05, 'Equalize': .05,
                   'PosterizeIncreasing': .05, 'Invert': .05}

_POINT = ('AutoContrast', 'Equalize', 'Invert', 'Posterize', 'Solarize', 'SolarizeAdd')
_ENHANCE = ('Color', 'Contrast', 'Brightness', 'Sharpness')
_AFFINE = ('Rotate',)
_SHIFT_X = ('ShearX', 'TranslateX', 'TranslateXRel')  # rows stay rows: 4 taps instead of 16
_SHIFT_Y = ('ShearY', 'TranslateY', 'TranslateYRel')
_FAMILIES = ('point', 'enhance', 'affine', 'shift_x', 'shift_y')
#: op name (timm's, ``Increasing`` variants included) -> one of ``_FAMILIES``
OP_FAMILY = {name: fam for fam, names in zip(_FAMILIES, (_POINT, _ENHANCE, _AFFINE, _SHIFT_X, _SHIFT_Y))
             for name in names}
OP_FAMILY.update({n + 'Increasing': OP_FAMILY[n] for n in ('Posterize', 'Solarize') + _ENHANCE})
_SIGNED = {'Rotate', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'TranslateXRel', 'TranslateYRel',
           'ColorIncreasing', 'ContrastIncreasing', 'BrightnessIncreasing', 'SharpnessIncreasing'}
_SMOOTH = torch.tensor([[1., 1., 1.], [1., 5., 1.], [1., 1., 1.]]) / 13  # Pillow's ImageFilter.SMOOTH


def level_to_arg(name: str, magnitude: torch.Tensor, sign: torch.Tensor, translate_pct: float = 0.45,
                 translate_const: float = 250.) -> torch.Tensor:
    """timm's ``LEVEL_TO_ARG[name]`` for a vector of magnitudes (float64) and signs (+-1): the op argument."""
    level = magnitude / 10.
    if name == 'Rotate':
        return level * 30. * sign
    if name in ('ShearX', 'ShearY'):
        return level * 0.3 * sign
    if name in ('TranslateXRel', 'TranslateYRel'):
        return level * translate_pct * sign
    if name in ('TranslateX', 'TranslateY'):
        return level * float(translate_const) * sign
    if name == 'Posterize':
        return torch.trunc(level * 4)
    if name == 'PosterizeIncreasing':
        return 4 - torch.trunc(level * 4)
    if name == 'Solarize':
        return torch.clamp(torch.trunc(level * 256), max=256)
    if name == 'SolarizeIncreasing':
        return 256 - torch.clamp(torch.trunc(level * 256), max=256)
    if name == 'SolarizeAdd':
        return torch.clamp(torch.trunc(level * 110), max=128)
    if name in ('Color', 'Contrast', 'Brightness', 'Sharpness'):
        return level * 1.8 + 0.1
    if name.endswith('Increasing'):  # enhance ops: 1 +- 0.9 level, kept >= 0.1
        return torch.clamp(1. + level * 0.9 * sign, min=0.1)
    return torch.zeros_like(magnitude)  # AutoContrast, Equalize, Invert take no argument


# ----------------------------------------------------------------------------------------------------------- point
def _histogram(x: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-channel 256-bin histograms ``(n, C, 256)`` int64 of uint8 ``x`` (scatter_add: no sync)."""
    n, c = x.shape[:2]
    flat = x.reshape(n * c, -1).long()
    hist = torch.zeros(n * c, 256, dtype=torch.int64, device=x.device)
    hist.scatter_add_(1, flat, torch.ones_like(flat))
    return hist.view(n, c, 256)


def _lut_autocontrast(hist: torch.Tensor) -> torch.Tensor:
    """``ImageOps.autocontrast(img)`` (cutoff 0): per channel, stretch [lo, hi] to [0, 255] (Python float math)."""
    ix = torch.arange(256, device=hist.device, dtype=torch.float64)
    nz = hist > 0
    lo = nz.int().argmax(-1, keepdim=True).double()
    hi = 255 - nz.flip(-1).int().argmax(-1, keepdim=True).double()
    scale = 255. / torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    lut = torch.trunc(ix * scale - lo * scale).clamp(0, 255)
    return torch.where(hi > lo, lut, ix.expand_as(lut)).to(torch.uint8)


def _lut_equalize(hist: torch.Tensor) -> torch.Tensor:
    """``ImageOps.equalize(img)``: ``lut[i] = (step // 2 + #pixels below i) // step``, step from the used bins."""
    ix = torch.arange(256, device=hist.device)
    nz = hist > 0
    hi = 255 - nz.flip(-1).int().argmax(-1, keepdim=True)
    step = (hist.sum(-1, keepdim=True) - hist.gather(-1, hi.long())) // 256
    below = hist.cumsum(-1) - hist
    lut = torch.div(step // 2 + below, step.clamp(min=1), rounding_mode='floor').clamp(max=255)
    keep = (nz.sum(-1, keepdim=True) <= 1) | (step == 0)
    return torch.where(keep, ix.expand_as(lut), lut).to(torch.uint8)


def _point_lut(name: str, arg: torch.Tensor, hist: torch.Tensor | None, n: int, c: int,
               device: torch.device) -> torch.Tensor:
    """``(n, c, 256)`` uint8 look-up table of point op ``name`` with per-sample ``arg`` (n,)."""
    ix = torch.arange(256, device=device).expand(n, c, 256)
    a = arg.view(n, 1, 1)
    if name == 'AutoContrast':
        return _lut_autocontrast(hist)
    if name == 'Equalize':
        return _lut_equalize(hist)
    if name == 'Invert':
        return (255 - ix).to(torch.uint8)
    if name.startswith('Posterize'):  # keep the top `bits` bits; 0 bits -> black, >= 8 -> identity
        bits = a.long().clamp(0, 8)
        return (ix & (256 - (1 << (8 - bits)))).to(torch.uint8)
    if name.startswith('SolarizeAdd'):
        return torch.where(ix < 128, (ix + a.long()).clamp(max=255), ix).to(torch.uint8)
    if name.startswith('Solarize'):
        return torch.where(ix < a.long(), ix, 255 - ix).to(torch.uint8)
    raise KeyError(name)


def _point_ops(x: torch.Tensor, names: Sequence[str], kind: torch.Tensor, arg: torch.Tensor) -> torch.Tensor:
    """Point op ``names[kind[i]]`` on sample i, all with one per-sample LUT gather."""
    n, c = x.shape[:2]
    hist = _histogram(x) if {'AutoContrast', 'Equalize'} & set(names) else None
    lut = None
    for k, name in enumerate(names):
        lut_k = _point_lut(name, arg, hist, n, c, x.device)
        lut = lut_k if lut is None else torch.where((kind == k).view(n, 1, 1), lut_k, lut)
    return lut.long().gather(2, x.reshape(n, c, -1).long()).to(torch.uint8).view_as(x)


# --------------------------------------------------------------------------------------------------------- enhance
def grey(x: torch.Tensor) -> torch.Tensor:
    """Pillow's ``convert('L')`` of uint8 RGB ``(n, 3, H, W)``: ``(19595 R + 38470 G + 7471 B + 2^15) >> 16``."""
    r, g, b = x.int().unbind(1)
    return ((r * 19595 + g * 38470 + b * 7471 + 32768) >> 16).unsqueeze(1)


def _smooth(x: torch.Tensor) -> torch.Tensor:
    """Pillow's ``filter(ImageFilter.SMOOTH)``: 3x3 kernel / 13 rounded, one-pixel border copied unchanged."""
    n, c, h, w = x.shape
    xf = x.float().reshape(n * c, 1, h, w)
    inner = torch.nn.functional.conv2d(xf, _SMOOTH.to(x.device, non_blocking=True).view(1, 1, 3, 3))
    inner = torch.floor(inner + 0.5).clamp(0, 255)
    out = xf.clone()
    out[..., 1:-1, 1:-1] = inner
    return out.view(n, c, h, w)


def _degenerate(name: str, x: torch.Tensor) -> torch.Tensor:
    if name.startswith('Color'):
        return grey(x).float()
    if name.startswith('Contrast'):  # int(mean(L) + 0.5), exactly in integers
        total = grey(x).flatten(1).sum(1, dtype=torch.int64)
        count = x.shape[-1] * x.shape[-2]
        return torch.div(2 * total + count, 2 * count, rounding_mode='floor').float().view(-1, 1, 1, 1)
    if name.startswith('Brightness'):
        return torch.zeros((), device=x.device)
    if name.startswith('Sharpness'):
        return _smooth(x)
    raise KeyError(name)


def _enhance_ops(x: torch.Tensor, names: Sequence[str], kind: torch.Tensor, arg: torch.Tensor) -> torch.Tensor:
    """``Image.blend(degenerate, img, factor)``: ``trunc(d + factor * (img - d))`` clipped, float32 as Pillow."""
    n = x.shape[0]
    deg = None
    for k, name in enumerate(names):
        deg_k = _degenerate(name, x)
        deg = deg_k if deg is None else torch.where((kind == k).view(n, 1, 1, 1), deg_k, deg)
    xf = x.float()
    out = deg + arg.float().view(n, 1, 1, 1) * (xf - deg)
    return torch.trunc(out.clamp(0, 255)).to(torch.uint8)


# ---------------------------------------------------------------------------------------------------------- affine
def _affine_matrix(name: str, arg: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Pillow's inverse-affine data ``(a, b, c, d, e, f)`` (output pixel centre -> input point), ``(n, 6)`` float64."""
    one, zero = torch.ones_like(arg), torch.zeros_like(arg)
    if name == 'Rotate':  # Image.rotate(deg) about the centre (w/2, h/2), coefficients rounded to 15 digits
        rad = -arg * math.pi / 180
        cos, sin = torch.round(torch.cos(rad) * 1e15) / 1e15, torch.round(torch.sin(rad) * 1e15) / 1e15
        cx, cy = w / 2., h / 2.
        return torch.stack([cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy], 1)
    if name == 'ShearX':
        return torch.stack([one, arg, zero, zero, one, zero], 1)
    if name == 'ShearY':
        return torch.stack([one, zero, zero, arg, one, zero], 1)
    if name in ('TranslateX', 'TranslateXRel'):
        px = arg * w if name.endswith('Rel') else arg
        return torch.stack([one, zero, px, zero, one, zero], 1)
    if name in ('TranslateY', 'TranslateYRel'):
        px = arg * h if name.endswith('Rel') else arg
        return torch.stack([one, zero, zero, zero, one, px], 1)
    raise KeyError(name)


def _cubic(v1, v2, v3, v4, d):
    """Pillow's ``BICUBIC`` macro (cubic convolution, a = -1) between v2 and v3 at fraction d."""
    return v2 + d * ((v3 - v1) + d * ((2 * (v1 - v2) + v3 - v4) + d * (v2 - v1 - v3 + v4)))


def affine_warp(x: torch.Tensor, matrix: torch.Tensor, fill: Sequence[float],
                interpolation: str = 'bicubic', axis: str | None = None) -> torch.Tensor:
    """Pillow's ``Image.transform(size, AFFINE, matrix, resample, fillcolor=fill)`` on a uint8 batch.

    Args:
        x: uint8 ``(n, C, H, W)``.
        matrix: ``(n, 6)`` inverse-affine data: output pixel centre ``(X, Y) = (x + .5, y + .5)`` samples the input
            at ``(a X + b Y + c, d X + e Y + f)``, in pixels with centres at ``i + .5``.
        fill: per-channel colour where that point is outside ``[0, W) x [0, H)``.
        interpolation: ``'nearest'``, ``'bilinear'`` or ``'bicubic'`` (Pillow's filters; border neighbours clamped).
        axis: ``'x'`` when every matrix keeps rows (``d = 0, e = 1, f = 0``: ShearX, TranslateX), ``'y'`` when it
            keeps columns; the other axis then falls on pixel centres and needs no taps (same result, fewer gathers).

    Returns:
        uint8 ``(n, C, H, W)``.
    """
    n, c, h, w = x.shape
    m = matrix.to(x.device, torch.float32).view(n, 6, 1, 1)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device, dtype=torch.float32) + 0.5,
                            torch.arange(w, device=x.device, dtype=torch.float32) + 0.5, indexing='ij')
    sx = m[:, 0] * gx + m[:, 1] * gy + m[:, 2]  # (n, H, W)
    sy = m[:, 3] * gx + m[:, 4] * gy + m[:, 5]
    inside = (sx >= 0) & (sx < w) & (sy >= 0) & (sy < h)
    flat = x.reshape(n, c, h * w).float()

    def pick(iy, ix):  # (n, H, W) integer coordinates, clamped like Pillow's XCLIP/YCLIP
        idx = iy.clamp(0, h - 1) * w + ix.clamp(0, w - 1)
        return flat.gather(2, idx.view(n, 1, h * w).expand(n, c, h * w)).view(n, c, h, w)

    if interpolation == 'nearest':
        out = pick(sy.floor().long(), sx.floor().long())
    else:
        fx, fy = sx - 0.5, sy - 0.5
        x0, y0 = fx.floor(), fy.floor()
        dx, dy = (fx - x0).unsqueeze(1), (fy - y0).unsqueeze(1)
        x0, y0 = x0.long(), y0.long()
        if interpolation == 'bilinear':
            taps = {None: ((0, 1), (0, 1)), 'x': ((0,), (0, 1)), 'y': ((0, 1), (0,))}[axis]

            def lerp(v, d):
                return v[0] if len(v) == 1 else v[0] + (v[1] - v[0]) * d
        elif interpolation == 'bicubic':
            taps = {None: ((-1, 0, 1, 2),) * 2, 'x': ((0,), (-1, 0, 1, 2)), 'y': ((-1, 0, 1, 2), (0,))}[axis]

            def lerp(v, d):
                return v[0] if len(v) == 1 else _cubic(*v, d)
        else:
            raise ValueError(f"interpolation must be 'nearest', 'bilinear' or 'bicubic', got {interpolation!r}")
        out = lerp([lerp([pick(y0 + i, x0 + j) for j in taps[1]], dx) for i in taps[0]], dy)
        out = torch.trunc(out.clamp(0, 255))
    fill_t = torch.tensor(fill, dtype=torch.float32).to(x.device, non_blocking=True).view(1, c, 1, 1)
    return torch.where(inside.unsqueeze(1), out, fill_t).to(torch.uint8)


def _affine_ops(x: torch.Tensor, names: Sequence[str], kind: torch.Tensor, arg: torch.Tensor, fill: Sequence[float],
                interpolation: str, axis: str | None = None) -> torch.Tensor:
    h, w = x.shape[-2:]
    mat = None
    for k, name in enumerate(names):
        mat_k = _affine_matrix(name, arg, h, w)
        mat = mat_k if mat is None else torch.where((kind == k).view(-1, 1), mat_k, mat)
    return affine_warp(x, mat, fill, interpolation, axis)


def apply_op(name: str, x: torch.Tensor, arg: torch.Tensor | float = 0., fill: Sequence[float] = (128, 128, 128),
             interpolation: str = 'bicubic') -> torch.Tensor:
    """Op ``name`` (timm's name) with argument ``arg`` (timm's level-to-arg output; scalar or ``(n,)``) on every
    sample of uint8 ``x (n, 3, H, W)``: the batched counterpart of ``timm.data.auto_augment.NAME_TO_OP[name]``."""
    n = x.shape[0]
    arg = torch.as_tensor(arg, dtype=torch.float64).expand(n).cpu()
    kind = torch.zeros(n, dtype=torch.long)
    return _run_family(OP_FAMILY[name], x, [name], kind, arg, fill, interpolation)


def _run_family(family: str, x, names, kind, arg, fill, interpolation):
    kind, arg = kind.to(x.device, non_blocking=True), arg.to(x.device, non_blocking=True)
    if family == 'point':
        return _point_ops(x, names, kind, arg)
    if family == 'enhance':
        return _enhance_ops(x, names, kind, arg)
    axis = {'affine': None, 'shift_x': 'x', 'shift_y': 'y'}[family]
    return _affine_ops(x, names, kind, arg, fill, interpolation, axis)


# ------------------------------------------------------------------------------------------------------- the policy
def parse_config(config_str: str) -> dict:
    """timm's ``rand_augment_transform`` string (``rand-m9-n2-mstd0.5-mmax10-inc1-p0.5``) as keyword values."""
    parts = config_str.split('-')
    if parts[0] != 'rand':
        raise ValueError(f"DeviceRandAugment: config_str must start with 'rand', got {config_str!r}")
    cfg = dict(magnitude=10., num_layers=2, prob=0.5, magnitude_std=0., magnitude_max=10., increasing=False,
               op_set=None)
    for part in parts[1:]:
        if part.startswith('t'):
            if part[1:] not in ('weights',):
                raise ValueError(f'DeviceRandAugment: op-set section {part!r} has no device version (its ops '
                                 "Desaturate/GaussianBlur are not implemented); supported: 'tweights'")
            cfg['op_set'] = cfg['op_set'] or part[1:]  # timm keeps the first
            continue
        key, val = (re.split(r'(\d.*)', part) + [''])[:2]
        if not val:
            continue
        if key == 'mstd':
            cfg['magnitude_std'] = float('inf') if float(val) > 100 else float(val)
        elif key == 'mmax':
            cfg['magnitude_max'] = float(int(val))
        elif key == 'inc':
            cfg['increasing'] = bool(int(val))
        elif key == 'm':
            cfg['magnitude'] = float(int(val))
        elif key == 'n':
            cfg['num_layers'] = int(val)
        elif key == 'p':
            cfg['prob'] = float(val)
        else:
            raise ValueError(f'DeviceRandAugment: unknown section {part!r} in {config_str!r}')
    return cfg


@TRANSFORMS.register_module()
class DeviceRandAugment(nn.Module):
    """timm's RandAugment on uint8 ``(B, 3, H, W)`` batches on any device, per-sample ops (see the module docstring).

    Args:
        config_str: timm's RandAugment string, e.g. ``'rand-m9-mstd0.5-inc1'`` (DeiT).
        img_mean: fill colour (0-255) of pixels moved in by geometric ops (timm's ``hparams['img_mean']``).
        interpolation: resampling of the geometric ops, ``'bicubic'`` (the recipe), ``'bilinear'``, ``'nearest'``
            or ``'random'`` (bilinear or bicubic per op application, timm's default when no interpolation is set).
        translate_pct: range of the relative translations (timm's default 0.45 of the image side).
        translate_const: range in pixels of the absolute translations (only in op sets that use them).
        seed: seed of ``self.generator``; None derives it from the run seed and rank.
    """

    def __init__(self, config_str: str = 'rand-m9-mstd0.5-inc1', img_mean: Sequence[int] = (124, 116, 104),
                 interpolation: str = 'bicubic', translate_pct: float = 0.45, translate_const: float = 100.,
                 seed: int | None = None) -> None:
        super().__init__()
        if interpolation not in ('nearest', 'bilinear', 'bicubic', 'random'):
            raise ValueError(f"DeviceRandAugment: interpolation must be 'nearest', 'bilinear', 'bicubic' or 'random', "
                             f'got {interpolation!r}')
        self.config_str = config_str
        cfg = parse_config(config_str)
        self.magnitude, self.num_layers, self.prob = cfg['magnitude'], cfg['num_layers'], cfg['prob']
        self.magnitude_std, self.magnitude_max = cfg['magnitude_std'], cfg['magnitude_max']
        self.choice_weights = None
        if cfg['op_set'] == 'weights':
            self.names = tuple(RAND_WEIGHTED_0)
            w = torch.tensor(list(RAND_WEIGHTED_0.values()), dtype=torch.float64)
            self.choice_weights = w / w.sum()
            if self.num_layers > len(self.names):
                raise ValueError(f'DeviceRandAugment: {config_str!r} draws {self.num_layers} ops without replacement '
                                 f'from {len(self.names)}')
        else:
            self.names = RAND_INCREASING_TRANSFORMS if cfg['increasing'] else RAND_TRANSFORMS
        self.fill = tuple(float(v) for v in img_mean)
        self.interpolation = interpolation
        self.translate_pct, self.translate_const = translate_pct, translate_const
        if seed is None:
            from openmix.mixers.base import default_seed
            seed = default_seed() + 3
        self.generator = torch.Generator().manual_seed(int(seed) % 2 ** 63)

    def sample(self, n: int, generator: torch.Generator | None = None) -> dict:
        """Host-side draws for ``n`` images: ``op`` index into ``self.names``, ``applied``, ``magnitude``, ``sign``
        (each ``(n, num_layers)``) and the op arguments ``arg`` (float64), as timm draws them, from ``generator``
        (a CPU generator; default ``self.generator``); with ``interpolation='random'`` also ``bicubic`` (bool, else
        bilinear)."""
        shape, g = (n, self.num_layers), self.generator if generator is None else generator
        if self.choice_weights is None:  # timm: np.random.choice with replacement
            op = torch.randint(len(self.names), shape, generator=g)
        else:  # without replacement, probability ~ weights (Plackett-Luce), by the Gumbel top-k trick
            u = torch.rand((n, len(self.names)), generator=g, dtype=torch.float64).clamp_min(1e-300)
            op = (self.choice_weights.log() - (-u.log()).log()).topk(self.num_layers, dim=1).indices
        applied = torch.rand(shape, generator=g, dtype=torch.float64) <= self.prob  # timm skips if random() > p
        mag = torch.full(shape, self.magnitude, dtype=torch.float64)
        if self.magnitude_std == float('inf'):
            mag = torch.rand(shape, generator=g, dtype=torch.float64) * self.magnitude
        elif self.magnitude_std > 0:
            mag = mag + self.magnitude_std * torch.randn(shape, generator=g, dtype=torch.float64)
        mag = mag.clamp(0., self.magnitude_max)
        sign = torch.where(torch.rand(shape, generator=g, dtype=torch.float64) > 0.5, -1., 1.).double()
        arg = torch.zeros(shape, dtype=torch.float64)
        for k, name in enumerate(self.names):
            arg = torch.where(op == k, level_to_arg(name, mag, sign, self.translate_pct, self.translate_const), arg)
        out = dict(op=op, applied=applied, magnitude=mag, sign=sign, arg=arg)
        if self.interpolation == 'random':
            out['bicubic'] = torch.rand(shape, generator=g, dtype=torch.float64) < 0.5
        return out

    @torch.no_grad()
    def forward(self, x: torch.Tensor, params: dict | None = None, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        """Augment uint8 ``x (B, 3, H, W)``, drawing from ``generator`` (default ``self.generator``); ``params``
        (from :meth:`sample`) replaces the draw (for tests)."""
        if x.dtype != torch.uint8:
            raise TypeError(f'DeviceRandAugment expects a uint8 batch, got {x.dtype}')
        p = self.sample(x.shape[0], generator) if params is None else params
        families = [OP_FAMILY[name] for name in self.names]
        for layer in range(self.num_layers):
            op, applied, arg = p['op'][:, layer], p['applied'][:, layer], p['arg'][:, layer]
            for family in _FAMILIES:
                members = [k for k, f in enumerate(families) if f == family]
                sel = applied & torch.isin(op, torch.tensor(members))
                if self.interpolation == 'random' and family not in ('point', 'enhance'):
                    cubic = p['bicubic'][:, layer]
                    groups = ((sel & ~cubic, 'bilinear'), (sel & cubic, 'bicubic'))
                else:
                    groups = ((sel, self.interpolation),)
                for mask, interpolation in groups:
                    rows = mask.nonzero().flatten()  # host tensor: no device sync
                    if rows.numel() == 0:
                        continue
                    local = torch.searchsorted(torch.tensor(members), op[rows])  # index into this family's names
                    rows_d = rows.to(x.device, non_blocking=True)
                    out = _run_family(family, x.index_select(0, rows_d), [self.names[k] for k in members], local,
                                      arg[rows], self.fill, interpolation)
                    x = x.index_copy(0, rows_d, out)
        return x

    def extra_repr(self) -> str:
        return f'{self.config_str!r}, fill={self.fill}, interpolation={self.interpolation!r}'


class RandAugmentOp:
    """The device pipeline's version of the CPU ``RandAugment(config_str, img_mean, interpolation, img_size)``
    (:class:`openmix.datasets.transforms.RandAugment`): a :class:`DeviceRandAugment` with the CPU transform's
    hyper-parameters (timm's ``create_transform``: ``translate_const = int(0.45 * min(img_size))``).

    ``host_draws``: the pipeline calls it with a CPU generator derived from the batch's generator and this op's
    position (:func:`~openmix.datasets.device_ops.common.host_generator`), so a batch's choices depend only on the
    batch's seed, like the other ops' device draws.
    """

    host_draws = True

    def __init__(self, config_str: str = 'rand-m9-mstd0.5-inc1', img_mean: Sequence[int] = (124, 116, 104),
                 interpolation: str = 'bicubic', img_size: int | Sequence[int] = 224) -> None:
        sizes = (img_size,) if isinstance(img_size, int) else tuple(img_size)
        self.aug = DeviceRandAugment(config_str, img_mean=img_mean, interpolation=interpolation,
                                     translate_const=int(min(sizes) * 0.45), seed=0)

    def __call__(self, x: torch.Tensor, host_g: torch.Generator) -> torch.Tensor:
        return self.aug(x, generator=host_g)

    def __repr__(self) -> str:
        return f'RandAugmentOp({self.aug.extra_repr()})'
