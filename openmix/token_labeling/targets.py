"""Token-labeling targets and MixToken (Jiang et al., NeurIPS 2021, "All Tokens Matter: Token Labeling for
Training Better Vision Transformers", Sec. 3.2-3.3; official ``tlt/data/mixup.py`` and ``lvvit.py``)."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align


def dense_score_maps(values: torch.Tensor, indices: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(B, K, H, W)`` map with each location's top-k teacher logits scattered to their classes, zeros elsewhere."""
    b, k, h, w = values.shape
    dense = values.new_zeros(b, num_classes, h, w)
    return dense.scatter_(1, indices.long(), values)


def token_targets(values: torch.Tensor, indices: torch.Tensor, crop: torch.Tensor, num_classes: int,
                  grid: tuple[int, int], smoothing: float = 0.0, legacy_box_order: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token and crop-level soft targets from teacher label maps.

    The dense map is cut to the crop box and resampled to the token grid with ``roi_align`` (box = normalised
    coordinates x map size - 0.5, as the official code), and to 1 x 1 for the crop-level (class token) label; then a
    softmax over all K classes (the zeros of non-top-k classes included, as the official code) and label smoothing
    (``x * (1 - eps) + eps / K``).

    Args:
        values, indices: ``(B, k, H, W)`` top-k logits and class indices of the label maps.
        crop: ``(B, 4)`` normalised crop ``(top, left, height, width)`` in the image the map covers (what
            ``RandomResizedCrop`` records, divided by the image size).
        num_classes: K.
        grid: Token grid ``(S_h, S_w)``.
        smoothing: Label smoothing epsilon.
        legacy_box_order: Pass the box as the official code does, ``(top, left, bottom, right)`` where ``roi_align``
            reads ``(x1, y1, x2, y2)``: the crop is transposed (inherited from ReLabel). Default: the correct order.

    Returns:
        ``(tokens (B, S_h * S_w, K), cls (B, K))``.
    """
    dense = dense_score_maps(values.float(), indices, num_classes)
    b, _, h, w = dense.shape
    top, left = crop[:, 0], crop[:, 1]
    bottom, right = top + crop[:, 2], left + crop[:, 3]
    if legacy_box_order:
        boxes = torch.stack([top * w, left * w, bottom * w, right * w], 1)  # official: all x map width
    else:
        boxes = torch.stack([left * w, top * h, right * w, bottom * h], 1)
    rois = torch.cat([torch.arange(b, dtype=dense.dtype, device=dense.device)[:, None], boxes.to(dense) - 0.5], 1)
    tokens = roi_align(dense, rois, output_size=tuple(grid))  # (B, K, S_h, S_w)
    cls = roi_align(dense, rois, output_size=(1, 1))[:, :, 0, 0]
    tokens = tokens.flatten(2).transpose(1, 2).softmax(-1)
    cls = cls.softmax(-1)
    if smoothing:
        tokens = tokens * (1 - smoothing) + smoothing / num_classes
        cls = cls * (1 - smoothing) + smoothing / num_classes
    return tokens, cls


def mixtoken_box(rng: np.random.Generator, grid: tuple[int, int], alpha: float = 1.0) -> tuple[tuple[int, ...], float]:
    """MixToken's box on the token grid: ``lam ~ Beta(alpha, alpha)`` (official: 1), the clovaai rule (even sides
    ``2 * (int(S * sqrt(1 - lam)) // 2)``, centre uniform, clipped), and ``lam = 1 - box / N`` (the weight of the
    unflipped sample's class target).

    Returns ``((y_lo, y_hi, x_lo, x_hi), lam)``.
    """
    sh, sw = grid
    lam = rng.beta(alpha, alpha)
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(sh * cut), int(sw * cut)
    cy, cx = int(rng.integers(sh)), int(rng.integers(sw))
    y_lo, y_hi = int(np.clip(cy - ch // 2, 0, sh)), int(np.clip(cy + ch // 2, 0, sh))
    x_lo, x_hi = int(np.clip(cx - cw // 2, 0, sw)), int(np.clip(cx + cw // 2, 0, sw))
    return (y_lo, y_hi, x_lo, x_hi), 1.0 - (y_hi - y_lo) * (x_hi - x_lo) / (sh * sw)


def box_tokens(box: tuple[int, int, int, int], grid: tuple[int, int], device=None) -> torch.Tensor:
    """``(N,)`` bool: tokens (row-major on the grid) inside the box."""
    m = torch.zeros(grid, dtype=torch.bool, device=device)
    m[box[0]:box[1], box[2]:box[3]] = True
    return m.flatten()


def mix_tokens(tokens: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Patch tokens ``(B, N, C)`` with those inside the box taken from the flipped batch (MixToken, Eq. 6)."""
    return torch.where(inside[None, :, None], tokens.flip(0), tokens)


def unmix_token_outputs(out: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Swap the per-token outputs ``(B, N, ...)`` inside the box back with ``flip(0)``, so each token's output is
    compared with the target of the image it came from (official ``lvvit.py``)."""
    shape = (1, -1) + (1,) * (out.ndim - 2)
    return torch.where(inside.view(shape), out.flip(0), out)
