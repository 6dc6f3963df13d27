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
                  grid: tuple[int, int], smoothing: float = 0.0, legacy_box_order: bool = False,
                  legacy_smoothing: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token and crop-level soft targets from teacher label maps.

    The dense map is cut to the crop box and resampled to the token grid with ``roi_align`` (box = normalised
    coordinates x map size - 0.5), and to 1 x 1 for the crop-level (class token) label; then a softmax over all K
    classes (the zeros of non-top-k classes included) and label smoothing (``x * (1 - eps) + eps / K``). With both
    legacy flags this is the official ``get_labelmaps_with_coords`` (``tlt/data/mixup.py``) to float rounding.

    Args:
        values, indices: ``(B, k, H, W)`` top-k logits and class indices of the label maps.
        crop: ``(B, 4)`` normalised crop ``(top, left, height, width)`` in the image the map covers (what
            ``RandomResizedCrop`` records, divided by the image size).
        num_classes: K.
        grid: Token grid ``(S_h, S_w)``.
        smoothing: Label smoothing epsilon.
        legacy_box_order: Pass the box as the official code does, ``(top, left, bottom, right)`` where ``roi_align``
            reads ``(x1, y1, x2, y2)``: the crop is transposed (inherited from ReLabel). Default: the correct order.
        legacy_smoothing: Smooth as the official code, ``x * (1 - eps + eps / K) + eps / K`` (rows sum to
            ``1 + eps / K``). Default: ``x * (1 - eps) + eps / K`` (rows sum to one).

    Returns:
        ``(tokens (B, S_h * S_w, K), cls (B, K))``.

    Example:
        >>> values, indices = torch.randn(2, 5, 14, 14), torch.randint(0, 1000, (2, 5, 14, 14))
        >>> crop = torch.tensor([[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0]])
        >>> tokens, cls = token_targets(values, indices, crop, 1000, (14, 14), smoothing=0.1)
        >>> tokens.shape, cls.shape
        (torch.Size([2, 196, 1000]), torch.Size([2, 1000]))

    Differences from the reference code:
        - Box order (``legacy_box_order=False``): the official box is ``(top, left, bottom, right) x W - 0.5``
          read by ``roi_align`` as ``(x1, y1, x2, y2)``, i.e. the crop mirrored about the diagonal. It changes the
          targets of every crop that is not symmetric about the diagonal: 99.9 % of 10,000 default
          ``RandomResizedCrop`` draws (scale 0.08-1, ratio 3/4-4/3) on a 224 px image. On the recorded reference
          maps (8 x 8 maps, 3 x 3 tokens, 6 crops) the token targets then differ by up to 0.80 (5 of 6 crops; the
          full-image crop is unchanged). ``legacy_box_order=True`` restores it (equal to recorded official output
          to 1e-7).
        - Smoothing (``legacy_smoothing=False``): official ``x * (1 - eps + eps / K) + eps / K`` vs ours
          ``x * (1 - eps) + eps / K``: every target row whenever ``smoothing > 0`` (the LV-ViT default 0.1); the
          difference per entry is ``eps / K * x`` (<= 1e-4 at K = 1000), the loss moves by ``eps / K * CE(x)``
          (measured 7.0e-2 at eps 0.1 on the recorded K = 10 case; ~1e-3 at K = 1000 and CE ~7).
          ``legacy_smoothing=True`` restores it (equal to recorded official output to 1e-7, loss to 1e-6).
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
        off = smoothing / num_classes
        scale = 1 - smoothing + off if legacy_smoothing else 1 - smoothing
        tokens, cls = tokens * scale + off, cls * scale + off
    return tokens, cls


def mixtoken_box(rng: np.random.Generator, grid: tuple[int, int], alpha: float = 1.0) -> tuple[tuple[int, ...], float]:
    """MixToken's box on the token grid: ``lam ~ Beta(alpha, alpha)`` (official: 1), the clovaai rule (even sides
    ``2 * (int(S * sqrt(1 - lam)) // 2)``, centre uniform, clipped), and ``lam = 1 - box / N`` (the weight of the
    unflipped sample's class target).

    Returns ``((y_lo, y_hi, x_lo, x_hi), lam)``.

    Differences from the reference code:
        - Random stream: the draws (``beta``, then the row and the column of the centre, in the official order) come
          from ``rng`` (the classifier's seeded generator, saved with checkpoints) instead of NumPy's global state;
          the distribution is the same. Given the same draws, box and lam equal the official ``lvvit.py``
          ``rand_bbox`` + ``TokenLabelCrossEntropy`` lam on all 120 recorded cases (grids 14 x 14, 8 x 8, 4 x 6).
          No flag: a run cannot replay another process's global NumPy state.
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
    """Patch tokens ``(B, N, C)`` with those inside the box taken from the flipped batch (MixToken, Eq. 6).

    Differences from the reference code:
        None: with the official box, the MixToken training forward of a tiny LV-ViT (this, then
        :func:`unmix_token_outputs`) gives the recorded official outputs to float rounding.
    """
    return torch.where(inside[None, :, None], tokens.flip(0), tokens)


def unmix_token_outputs(out: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Swap the per-token outputs ``(B, N, ...)`` inside the box back with ``flip(0)``, so each token's output is
    compared with the target of the image it came from, as the official ``lvvit.py``.

    Differences from the reference code:
        None (compared with a recorded official MixToken training forward, see :func:`mix_tokens`).
    """
    shape = (1, -1) + (1,) * (out.ndim - 2)
    return torch.where(inside.view(shape), out.flip(0), out)
