"""Image transforms of the DeiT recipe: registered wrappers over timm/torchvision on ``results`` dicts.

Every transform takes and returns a dict holding a PIL RGB image under ``img`` (plus ``img_path``, ``gt_label``);
geometric ones record what they did (``crop_box``, ``flip``) so dense labels can follow the image later. Random
draws use Python's ``random`` (as timm does) and torch's RNG, both seeded per loader worker by ``seed_worker``.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
import torchvision.transforms as tvt
import torchvision.transforms.functional as F
from PIL import Image, ImageOps
from timm.data import auto_augment as timm_aa
from timm.data.transforms import RandomResizedCropAndInterpolation, str_to_interp_mode, str_to_pil_interp

from openmix.registry import TRANSFORMS

_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'box', 'hamming', 'lanczos')


def _size2(size: int | Sequence[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


def _check_interp(interpolation: str, allow_random: bool = False) -> str:
    allowed = _INTERPOLATIONS + (('random',) if allow_random else ())
    if interpolation not in allowed:
        raise ValueError(f'interpolation must be one of {allowed}, got {interpolation!r}')
    return interpolation


@TRANSFORMS.register_module()
class RandomResizedCrop:
    """Random area/aspect crop resized to ``size`` (Szegedy et al. 2015), timm's sampling (10 tries, then centre).

    Records ``crop_box = (top, left, height, width)`` in the input image and ``ori_shape = (H, W)``.

    Args:
        size: Output size (int or (h, w)).
        scale: Range of the crop area as a fraction of the image.
        ratio: Range of the aspect ratio (w / h), sampled log-uniformly.
        interpolation: ``'bilinear'``, ``'bicubic'``, ... or ``'random'`` (bilinear or bicubic per image).
    """

    def __init__(self, size: int | Sequence[int], scale: Sequence[float] = (0.08, 1.0),
                 ratio: Sequence[float] = (3 / 4, 4 / 3), interpolation: str = 'bilinear') -> None:
        if not (0 < scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f'RandomResizedCrop: need 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1], '
                             f'got scale={tuple(scale)}, ratio={tuple(ratio)}')
        self.size = _size2(size)
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.interpolation = _check_interp(interpolation, allow_random=True)

    def __call__(self, results: dict) -> dict:
        img = results['img']
        top, left, h, w = RandomResizedCropAndInterpolation.get_params(img, self.scale, self.ratio)
        interp = random.choice(('bilinear', 'bicubic')) if self.interpolation == 'random' else self.interpolation
        results['ori_shape'] = (img.height, img.width)
        results['crop_box'] = (top, left, h, w)
        results['img'] = F.resized_crop(img, top, left, h, w, list(self.size), str_to_interp_mode(interp))
        return results

    def __repr__(self) -> str:
        return f'RandomResizedCrop(size={self.size}, scale={self.scale}, interpolation={self.interpolation!r})'


@TRANSFORMS.register_module()
class RandomHorizontalFlip:
    """Mirror left-right with probability ``prob``; records ``flip`` (bool).

    Token-label maps (``label_values``/``label_indices``, ``(k, H, W)``, loaded by ``LoadTokenLabel``) follow the
    image: when a crop was already recorded (``crop_box`` of the original image), flipping the crop equals cropping
    the mirrored box of the mirrored original, so the map is mirrored and the box reflected (``left' = W - left -
    width``); otherwise the map is simply mirrored.
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'RandomHorizontalFlip: prob must be in [0, 1], got {prob}')
        self.prob = prob

    def __call__(self, results: dict) -> dict:
        flip = random.random() < self.prob
        if flip:
            results['img'] = results['img'].transpose(Image.FLIP_LEFT_RIGHT)
            if 'label_values' in results:
                results['label_values'] = results['label_values'].flip(-1)
                results['label_indices'] = results['label_indices'].flip(-1)
                if 'crop_box' in results:
                    top, left, h, w = results['crop_box']
                    results['crop_box'] = (top, results['ori_shape'][1] - left - w, h, w)
        results['flip'] = flip
        return results

    def __repr__(self) -> str:
        return f'RandomHorizontalFlip(prob={self.prob})'


@TRANSFORMS.register_module()
class Resize:
    """Resize; an int ``size`` sets the shorter side (aspect kept), a pair sets (h, w)."""

    def __init__(self, size: int | Sequence[int], interpolation: str = 'bilinear') -> None:
        self.size = size if isinstance(size, int) else list(size)
        self.interpolation = _check_interp(interpolation)

    def __call__(self, results: dict) -> dict:
        results['img'] = F.resize(results['img'], self.size, str_to_interp_mode(self.interpolation))
        return results

    def __repr__(self) -> str:
        return f'Resize(size={self.size}, interpolation={self.interpolation!r})'


@TRANSFORMS.register_module()
class CenterCrop:
    """Centre crop to ``size`` (records ``crop_box`` like :class:`RandomResizedCrop`)."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _size2(size)

    def __call__(self, results: dict) -> dict:
        img = results['img']
        h, w = self.size
        top, left = int(round((img.height - h) / 2.0)), int(round((img.width - w) / 2.0))
        results['ori_shape'] = (img.height, img.width)
        results['crop_box'] = (top, left, h, w)
        results['img'] = F.center_crop(img, [h, w])
        return results

    def __repr__(self) -> str:
        return f'CenterCrop(size={self.size})'


@TRANSFORMS.register_module()
class RandomCrop:
    """Random ``size`` crop after optional padding (CIFAR recipe: 32, padding 4)."""

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 padding_mode: str = 'constant', fill: int = 0) -> None:
        if padding_mode not in ('constant', 'edge', 'reflect', 'symmetric'):
            raise ValueError(f"RandomCrop: padding_mode must be 'constant', 'edge', 'reflect' or 'symmetric', "
                             f'got {padding_mode!r}')
        self.size = _size2(size)
        self.padding, self.padding_mode, self.fill = padding, padding_mode, fill

    def __call__(self, results: dict) -> dict:
        img = results['img']
        if self.padding:
            img = F.pad(img, self.padding, fill=self.fill, padding_mode=self.padding_mode)
        h, w = self.size
        if img.height < h or img.width < w:
            raise ValueError(f'RandomCrop: image {results.get("img_path", "")} is {img.height}x{img.width} after '
                             f'padding, smaller than the crop {h}x{w}')
        top, left = random.randint(0, img.height - h), random.randint(0, img.width - w)
        results['img'] = img.crop((left, top, left + w, top + h))
        return results

    def __repr__(self) -> str:
        return f'RandomCrop(size={self.size}, padding={self.padding}, padding_mode={self.padding_mode!r})'


@TRANSFORMS.register_module()
class ColorJitter:
    """torchvision's colour jitter (brightness, contrast, saturation as in timm's ``color_jitter=0.4``; hue)."""

    def __init__(self, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4,
                 hue: float = 0.0) -> None:
        self.t = tvt.ColorJitter(brightness, contrast, saturation, hue)

    def __call__(self, results: dict) -> dict:
        results['img'] = self.t(results['img'])
        return results

    def __repr__(self) -> str:
        return repr(self.t)


def safe_posterize(img: Image.Image, bits_to_keep: int, **_) -> Image.Image:
    """timm's posterize with Pillow >= 13 semantics fixed: keeping 0 bits gives a black image.

    timm's increasing posterize maps magnitudes near 10 (reached with ``mstd``) to 0 bits; Pillow < 13 then masked
    every bit away (a black image), Pillow 13 raises ``ValueError``, which killed loader workers.
    """
    if bits_to_keep >= 8:
        return img
    if bits_to_keep <= 0:
        return Image.new(img.mode, img.size)
    return ImageOps.posterize(img, bits_to_keep)


#: timm's geometric RandAugment ops: they move pixels, so token-label maps must move with them
GEOMETRIC_OPS = (timm_aa.rotate, timm_aa.shear_x, timm_aa.shear_y, timm_aa.translate_x_rel, timm_aa.translate_y_rel,
                 timm_aa.translate_x_abs, timm_aa.translate_y_abs)


def label_map_index(applied: Sequence[tuple], map_hw: tuple[int, int], img_size: tuple[int, int]
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source cell ``(i, j)`` of every label-map cell after the geometric ops ``applied``, and whether it is inside.

    The ops are replayed by PIL itself, with nearest sampling, on an image holding each pixel's own index (fill -1),
    so every pixel moves exactly as the image's pixels did, PIL's rounding included. Map cell ``(i, j)`` (an equal
    share of the image: rows ``[i * H / Hm, (i + 1) * H / Hm)``) then reads the source pixel of its centre pixel
    (row ``floor((i + 0.5) * H / Hm)``), and takes the value of the map cell holding that source pixel's centre; a
    cell whose centre pixel came from outside the image reads 0 (the official ``cval=0``).

    Args:
        applied: ``(op, args, image size)`` of each geometric op in the order applied (what ``RandAugment`` records).
        map_hw: ``(Hm, Wm)`` of the label map.
        img_size: PIL ``(W, H)`` of the image the ops were applied to.
    """
    w, h = img_size
    hm, wm = map_hw
    ids = Image.fromarray(np.arange(h * w, dtype=np.int32).reshape(h, w))  # mode 'I'
    for fn, args, size in applied:
        if tuple(size) != (w, h):
            raise ValueError(f'label_map_index: op {fn.__name__} ran on a {size} image, expected {img_size}')
        ids = fn(ids, *args, resample=Image.NEAREST, fillcolor=-1)
    rows = ((2 * np.arange(hm) + 1) * h) // (2 * hm)  # the pixel holding each cell's centre
    cols = ((2 * np.arange(wm) + 1) * w) // (2 * wm)
    src = np.asarray(ids, dtype=np.int64)[rows[:, None], cols[None, :]]
    valid = src >= 0
    src_y, src_x = np.divmod(np.where(valid, src, 0), w)
    i = ((2 * src_y + 1) * hm) // (2 * h)  # map cell of the source pixel's centre
    j = ((2 * src_x + 1) * wm) // (2 * w)
    return torch.from_numpy(i), torch.from_numpy(j), torch.from_numpy(valid)


def warp_label_map(maps: torch.Tensor, index: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """A ``(k, Hm, Wm)`` label map moved by ``index`` (from :func:`label_map_index`): nearest, 0 outside."""
    i, j, valid = index
    return torch.where(valid, maps[..., i, j], torch.zeros((), dtype=maps.dtype))


@TRANSFORMS.register_module()
class RandAugment:
    """timm's RandAugment (Cubuk et al. 2020) from a config string such as ``'rand-m9-mstd0.5-inc1'`` (DeiT).

    Hyper-parameters follow timm's ``create_transform``: ``translate_const = int(0.45 * img_size)``, fill colour
    ``img_mean``, resampling ``interpolation``. Posterize ops use :func:`safe_posterize`.

    Args:
        config_str: timm RandAugment string (``rand-m<magnitude>-n<ops>-mstd<std>-inc<0|1>-...``).
        img_mean: Fill colour (0-255) for pixels moved in by geometric ops.
        interpolation: Resampling of the geometric ops (``'bicubic'`` in DeiT; ``'random'``: bilinear/bicubic).
        img_size: Training image size (sets the translation range).
    """

    def __init__(self, config_str: str = 'rand-m9-mstd0.5-inc1', img_mean: Sequence[int] = (124, 116, 104),
                 interpolation: str = 'bicubic', img_size: int | Sequence[int] = 224) -> None:
        if not isinstance(config_str, str) or not config_str.startswith('rand'):
            raise ValueError(f"RandAugment: config_str must look like 'rand-m9-mstd0.5-inc1', got {config_str!r}")
        hparams = dict(translate_const=int(min(_size2(img_size)) * 0.45), img_mean=tuple(int(x) for x in img_mean))
        if _check_interp(interpolation, allow_random=True) != 'random':
            hparams['interpolation'] = str_to_pil_interp(interpolation)
        try:
            self.t = timm_aa.rand_augment_transform(config_str, hparams)
        except (AssertionError, ValueError, KeyError) as e:
            raise ValueError(f'RandAugment: cannot parse config_str {config_str!r} (timm syntax: '
                             f"'rand-m9-n2-mstd0.5-inc1'): {e}") from e
        self._applied = []  # geometric ops applied to the current image (for label maps)
        for op in self.t.ops:
            if op.aug_fn is timm_aa.posterize:
                op.aug_fn = safe_posterize
            elif op.aug_fn in GEOMETRIC_OPS:
                op.aug_fn = self._recording(op.aug_fn)
        self.config_str = config_str

    def _recording(self, fn):
        def run(img, *args, **kwargs):
            self._applied.append((fn, args, img.size))
            return fn(img, *args, **kwargs)
        return run

    def __call__(self, results: dict) -> dict:
        """Augment ``img``; token-label maps (``label_values``/``label_indices``) follow the geometric ops (put
        RandAugment before the crop for token labeling, as the official pipeline does)."""
        self._applied = []
        results['img'] = self.t(results['img'])
        if 'label_values' in results and self._applied:
            if 'crop_box' in results:
                raise ValueError('RandAugment after RandomResizedCrop cannot move token-label maps: place it '
                                 'before the crop (flip -> RandAugment -> RandomResizedCrop, as the official code)')
            index = label_map_index(self._applied, results['label_values'].shape[-2:], self._applied[0][2])
            for key in ('label_values', 'label_indices'):
                results[key] = warp_label_map(results[key], index)
        return results

    def __repr__(self) -> str:
        return f'RandAugment({self.config_str!r})'
