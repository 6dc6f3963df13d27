"""Shared mixing geometry: box sampling, area-lam correction, masks and soft targets.

Pure functions used by every mixer (STYLE.md point 2). Box sampling draws from a NumPy ``Generator`` on the host
(a few scalars per batch) and is vectorised over the batch; masks are built on the device from the box coordinates.
Boxes are ``(y_lo, y_hi, x_lo, x_hi)`` integer rows, half-open, in pixels.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ['rand_bbox', 'rand_bbox_clovaai', 'rand_bbox_minmax', 'box_area_lam', 'box_mask', 'one_hot',
           'smooth_one_hot', 'mix_target']


def rand_bbox(rng: np.random.Generator, img_hw: tuple[int, int], lam: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """CutMix box of side ``int(size * sqrt(1 - lam))`` per image, as in timm 1.0 ``rand_bbox``.

    The centre is drawn uniformly in ``[margin * cut, size - margin * cut)`` and the box is clipped to the image; the
    side before clipping is exactly ``cut`` (``cy - cut // 2`` to ``cy + (cut + 1) // 2``).

    Args:
        rng: host random generator.
        img_hw: image ``(H, W)``.
        lam: ``(N,)`` sampled lam values (weight of the unshuffled image).
        margin: fraction of the box side kept away from the border for the centre.

    Returns:
        ``(N, 4)`` int64 boxes ``(y_lo, y_hi, x_lo, x_hi)``.
    """
    img_h, img_w = img_hw
    lam = np.asarray(lam, dtype=np.float64).reshape(-1)
    ratio = np.sqrt(1.0 - lam)
    cut_h, cut_w = (img_h * ratio).astype(np.int64), (img_w * ratio).astype(np.int64)
    margin_y, margin_x = (margin * cut_h).astype(np.int64), (margin * cut_w).astype(np.int64)
    cy = rng.integers(margin_y, img_h - margin_y)
    cx = rng.integers(margin_x, img_w - margin_x)
    y_lo, y_hi = np.clip(cy - cut_h // 2, 0, img_h), np.clip(cy + (cut_h + 1) // 2, 0, img_h)
    x_lo, x_hi = np.clip(cx - cut_w // 2, 0, img_w), np.clip(cx + (cut_w + 1) // 2, 0, img_w)
    return np.stack([y_lo, y_hi, x_lo, x_hi], axis=1)


def rand_bbox_clovaai(rng: np.random.Generator, img_hw: tuple[int, int], lam: np.ndarray) -> np.ndarray:
    """The original CutMix box (clovaai/CutMix-PyTorch ``rand_bbox``): even side ``2 * (cut // 2)``, clipped.

    Yun et al., "CutMix", ICCV 2019, Alg. A1. The official code names ``W = size[2]`` (the height of an NCHW batch)
    and uses it consistently, so in ``(H, W)`` terms the box is the same as drawn here.
    """
    img_h, img_w = img_hw
    lam = np.asarray(lam, dtype=np.float64).reshape(-1)
    ratio = np.sqrt(1.0 - lam)
    cut_h, cut_w = (img_h * ratio).astype(np.int64), (img_w * ratio).astype(np.int64)
    cy = rng.integers(0, img_h, size=lam.shape[0])
    cx = rng.integers(0, img_w, size=lam.shape[0])
    y_lo, y_hi = np.clip(cy - cut_h // 2, 0, img_h), np.clip(cy + cut_h // 2, 0, img_h)
    x_lo, x_hi = np.clip(cx - cut_w // 2, 0, img_w), np.clip(cx + cut_w // 2, 0, img_w)
    return np.stack([y_lo, y_hi, x_lo, x_hi], axis=1)


def rand_bbox_minmax(rng: np.random.Generator, img_hw: tuple[int, int], minmax: tuple[float, float],
                     count: int) -> np.ndarray:
    """Min-max CutMix box (timm ``rand_bbox_minmax``): each side a uniform fraction of the image, fully inside."""
    img_h, img_w = img_hw
    cut_h = rng.integers(int(img_h * minmax[0]), int(img_h * minmax[1]), size=count)
    cut_w = rng.integers(int(img_w * minmax[0]), int(img_w * minmax[1]), size=count)
    y_lo = rng.integers(0, img_h - cut_h + 1)
    x_lo = rng.integers(0, img_w - cut_w + 1)
    return np.stack([y_lo, y_lo + cut_h, x_lo, x_lo + cut_w], axis=1)


def box_area_lam(boxes: np.ndarray, img_hw: tuple[int, int]) -> np.ndarray:
    """``1 - area / (H * W)`` of each (clipped) box: the weight left to the unshuffled image."""
    area = (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])
    return 1.0 - area / float(img_hw[0] * img_hw[1])


def box_mask(boxes: torch.Tensor, img_hw: tuple[int, int]) -> torch.Tensor:
    """``(N, 1, H, W)`` bool mask, True inside each half-open box; built on ``boxes.device`` without loops."""
    rows = torch.arange(img_hw[0], device=boxes.device)
    cols = torch.arange(img_hw[1], device=boxes.device)
    in_y = (rows[None] >= boxes[:, 0:1]) & (rows[None] < boxes[:, 1:2])
    in_x = (cols[None] >= boxes[:, 2:3]) & (cols[None] < boxes[:, 3:4])
    return (in_y[:, :, None] & in_x[:, None, :])[:, None]


def one_hot(labels: torch.Tensor, num_classes: int, on_value: float = 1.0, off_value: float = 0.0) -> torch.Tensor:
    """``(N, K)`` float one-hot of integer labels with the given on/off values."""
    out = torch.full((labels.shape[0], num_classes), off_value, device=labels.device)
    return out.scatter_(1, labels.long().view(-1, 1), on_value)


def smooth_one_hot(labels: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """Label-smoothed one-hot (Szegedy et al. 2016): off = eps / K, on = 1 - eps + eps / K; rows sum to one."""
    off = smoothing / num_classes
    return one_hot(labels, num_classes, on_value=1.0 - smoothing + off, off_value=off)


def mix_target(targets: torch.Tensor, index: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Area-based label of a mixed batch: ``lam * y_a + (1 - lam) * y_b`` with ``y_b = y[index]``.

    Because smoothing and mixing are both linear this equals smoothing after mixing, as timm's ``mixup_target``.
    """
    lam = lam.to(targets.dtype).view(-1, 1)
    return targets * lam + targets[index] * (1.0 - lam)
