"""Label assignment: the target of a mixed image, computed after the forward pass (ARCHITECTURE.md axis 2)."""
from __future__ import annotations

import torch
from torch import nn

from openmix.mixers.base import MixedBatch
from openmix.mixers.geometry import mix_target
from openmix.registry import MODELS


@MODELS.register_module()
class AreaLabel(nn.Module):
    """Area-based label (Mixup Eq. 1, CutMix Eq. 1): ``y = lam * y_a + (1 - lam) * y_b`` on smoothed one-hots.

    A label assigner may read what the backbone computed (e.g. TransMix's class attention): the classifier calls
    ``attach(backbone)`` once after building, and ``forward(targets, mixed)`` after each training forward pass.
    """

    def attach(self, backbone: nn.Module) -> None:
        """Register whatever hooks the assigner needs on ``backbone`` (none for area labels)."""

    def prepare(self, mixed: MixedBatch) -> None:
        """Called with the mixed batch before the forward pass (nothing to prepare for area labels)."""

    def forward(self, targets: torch.Tensor, mixed: MixedBatch) -> torch.Tensor:
        return mix_target(targets, mixed.index, mixed.lam)


def box_token_mask(box: torch.Tensor, img_hw: tuple[int, int], grid_hw: tuple[int, int]) -> torch.Tensor:
    """``(B, gh * gw)`` float mask of the tokens whose sampling pixel lies in the box ``(y_lo, y_hi, x_lo, x_hi)``.

    Nearest downsampling as ``nn.Upsample(size=grid)`` does in the official TransMix code: token ``(i, j)`` takes
    the value of pixel ``(floor(i * H / gh), floor(j * W / gw))``, the top-left pixel of its patch.
    """
    (h, w), (gh, gw) = img_hw, grid_hw
    ys = (torch.arange(gh, device=box.device) * h) // gh
    xs = (torch.arange(gw, device=box.device) * w) // gw
    in_y = (ys[None] >= box[:, :1]) & (ys[None] < box[:, 1:2])  # (B, gh)
    in_x = (xs[None] >= box[:, 2:3]) & (xs[None] < box[:, 3:4])  # (B, gw)
    return (in_y[:, :, None] & in_x[:, None, :]).flatten(1).float()


@MODELS.register_module()
class TransMixLabel(AreaLabel):
    """TransMix label assignment (Chen et al., CVPR 2022, "TransMix: Attend to Mix for Vision Transformers", Eq. 3-5).

    On box-mixed (CutMix) samples the partner's share becomes

        lam_B = (1 - attn_weight) * area_B + attn_weight * sum(A * M) / sum(A)

    where ``A`` is the last block's class-token attention over the patch tokens (post-softmax, head-averaged,
    detached; see :class:`openmix.models.class_attention.ClassAttentionProbe`), ``M`` the pasted box reduced to
    the token grid by nearest sampling and ``area_B`` the box area / image area. With ``attn_weight = 0.5`` this is
    the official ``lam = (lam0 + lam1) / 2``. Samples mixed otherwise (Mixup) keep area labels, as the official
    ``train.py`` relabels only CutMix batches. The mixed target is ``(1 - lam_B) * y_a + lam_B * y_b`` on the
    already-smoothed one-hots; lam carries no gradient.

    Models without a class token, or whose head pools the patch tokens instead of reading the class token
    (``global_pool='avg'``), are refused when the model is built (see :mod:`openmix.models.class_attention`).

    Args:
        attn_weight: Weight of the attention term (paper: 0.5).
    """

    def __init__(self, attn_weight: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= attn_weight <= 1.0:
            raise ValueError(f'TransMixLabel: attn_weight must be in [0, 1], got {attn_weight}')
        self.attn_weight = attn_weight
        self.probe = None
        self.grid_size = None

    def attach(self, backbone: nn.Module) -> None:
        from openmix.models.class_attention import ClassAttentionProbe
        # a backbone with its own class-attention blocks (CA-Swin) is probed itself, else the wrapped timm model
        model = backbone if hasattr(backbone, 'blocks_token_only') else getattr(backbone, 'model', backbone)
        self.probe = ClassAttentionProbe(model, getattr(backbone, 'model_name', type(model).__name__))
        patch_embed = getattr(model, 'patch_embed', None) if model is not backbone else None
        grid = getattr(patch_embed, 'grid_size', None)  # XCiT's ConvPatchEmbed has none: inferred per batch
        self.grid_size = tuple(grid) if grid is not None else None

    def prepare(self, mixed: MixedBatch) -> None:
        """Called before the forward pass: capture attention only when some sample was box-mixed."""
        self.probe.active = bool(mixed.is_box is not None and mixed.box is not None and mixed.is_box.any())

    def transmix_lam(self, lam: torch.Tensor, mixed: MixedBatch, attn: torch.Tensor) -> torch.Tensor:
        """Per-sample weight of the unshuffled sample: TransMix's on box-mixed samples, ``lam`` elsewhere."""
        h, w = mixed.inputs.shape[-2:]
        n = attn.shape[1]
        grid = self.grid_size if self.grid_size and self.grid_size[0] * self.grid_size[1] == n else None
        if grid is None:  # same aspect as the image
            gh = max(int(round((n * h / w) ** 0.5)), 1)
            if n % gh:
                raise ValueError(f'TransMix: cannot infer the token grid of {n} patch tokens for {h}x{w} inputs')
            grid = (gh, n // gh)
        box = mixed.box.to(attn.device)
        m = box_token_mask(box, (h, w), grid)
        attn = attn.float()
        attn_b = (attn * m).sum(1) / attn.sum(1).clamp_min(torch.finfo(attn.dtype).tiny)
        area_b = ((box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])).float() / (h * w)
        lam_b = (1 - self.attn_weight) * area_b + self.attn_weight * attn_b
        keep = lam == 1  # unmixed samples (lam = 1, e.g. a self-pair) stay unmixed
        return torch.where(mixed.is_box.to(lam.device) & ~keep, 1 - lam_b.to(lam.dtype), lam)

    def forward(self, targets: torch.Tensor, mixed: MixedBatch) -> torch.Tensor:
        if not self.probe.active:
            return super().forward(targets, mixed)
        self.probe.active = False
        lam = self.transmix_lam(mixed.lam, mixed, self.probe.pop())
        return mix_target(targets, mixed.index, lam)
