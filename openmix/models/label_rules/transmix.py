"""TransMix label rule: the partner's share re-weighted by class attention inside the pasted box."""
from __future__ import annotations

import torch
from torch import nn

from openmix.mixers.base import MixedBatch
from openmix.mixers.geometry import mix_target
from openmix.registry import MODELS

from .area import AreaLabel


def box_token_mask(box: torch.Tensor, img_hw: tuple[int, int], grid_hw: tuple[int, int]) -> torch.Tensor:
    """``(B, gh * gw)`` float mask of the tokens whose sampling pixel lies in the box ``(y_lo, y_hi, x_lo, x_hi)``.

    Nearest downsampling of the pixel mask: token ``(i, j)`` takes the value of pixel ``(floor(i * H / gh),
    floor(j * W / gw))``, the top-left pixel of its patch. When ``H`` and ``W`` are multiples of the grid (every
    patch-embedding model) this is the official ``nn.Upsample(size=grid)`` mask, tested equal on random boxes
    (``tests/models/test_transmix_reference.py``). At other ratios PyTorch's nearest index is computed in floating
    point and can land one pixel lower: 13 of 3154 ``(H, grid)`` square sizes with ``H`` in 4..79 differ (e.g. 62 px
    on 14 tokens); this function floors exactly.
    """
    (h, w), (gh, gw) = img_hw, grid_hw
    ys = (torch.arange(gh, device=box.device) * h) // gh
    xs = (torch.arange(gw, device=box.device) * w) // gw
    in_y = (ys[None] >= box[:, :1]) & (ys[None] < box[:, 1:2])  # (B, gh)
    in_x = (xs[None] >= box[:, 2:3]) & (xs[None] < box[:, 3:4])  # (B, gw)
    return (in_y[:, :, None] & in_x[:, None, :]).flatten(1).float()


@MODELS.register_module()
class TransMixLabel(AreaLabel):
    """TransMix label assignment (Chen et al., "TransMix: Attend to Mix for Vision Transformers", CVPR 2022).

    Paper: https://arxiv.org/abs/2111.09833 (Sec. 3). On box-mixed (CutMix) samples the label weight of the pasted
    partner ``B`` is re-computed from the class attention the network itself produced:

        lam_B = (1 - attn_weight) * area_B + attn_weight * sum(A * M) / sum(A)

    where ``A`` is the last block's class-token attention over the patch tokens (post-softmax, pre-dropout, averaged
    over heads, detached; the paper's class attention map, captured by
    :class:`openmix.models.class_attention.ClassAttentionProbe`), ``M`` the pasted box reduced to the token grid by
    nearest sampling (the paper's down-sampled mask, :func:`box_token_mask`) and ``area_B`` the box area over the
    image area (CutMix's ``1 - lam``). The attention term is the paper's attention-weighted label share; the released
    code averages it with the area share, ``lam = (lam0 + lam1) / 2``, which ``attn_weight = 0.5`` (default) is.
    Samples mixed otherwise (Mixup) keep area labels, as the official ``train.py`` relabels only CutMix batches. The
    mixed target is ``(1 - lam_B) * y_a + lam_B * y_b`` on the already-smoothed one-hots; lam carries no gradient.

    Models without a class token, or whose head pools the patch tokens instead of reading the class token
    (``global_pool='avg'``), are refused when the model is built (see :mod:`openmix.models.class_attention`).

    Args:
        attn_weight: Weight of the attention term (0.5: the released code; 1.0: attention only; 0.0: area labels).

    Example:
        >>> label_assigner = dict(type='TransMixLabel')  # with mixer=dict(type='CutMix') or a Mixup/CutMix switch

    Differences from the reference code:
        Reference: github.com/Beckschen/TransMix @ 0e4d31e (``transmix.py``: ``Mixup_transmix``, ``transmix_label``;
        its ``vision_transformer.py`` ``return_attn`` models), run outside the repo; recorded output in
        ``tests/fixtures/reference/transmix.npz`` (see ``transmix.md``). Tested equal
        (``tests/models/test_transmix_reference.py``), so "as the official code" holds for: the target of
        ``transmix_label`` on the same attention rows, boxes and labels at 224 px / 14x14 and 32 px / 4x4 tokens
        (boxes off the patch grid, zero-area and full-image boxes included; max difference 6e-8, float32 rounding of
        ``1 - (0.5 a + 0.5 b)`` against ``(a + b) / 2``); the whole ``Mixup_transmix`` step given its draw (switch,
        box, pixels; Mixup batches keep area labels); and the class-attention row of its ``*_return_attn`` ViT (last
        block, post-softmax, class row, head mean, patch tokens), equal to our hooked row on a stock timm ViT with
        fused attention to 2e-6 (fp32). Deviations:

        * Odd batches: the official code refuses them (``assert len(x) % 2 == 0``); ours pairs the middle sample with
          itself under flip pairing and leaves it unmixed (area lam 1, kept by TransMix). Never with even
          batch sizes, once per odd batch otherwise. Flag: none (the reference crashes).
        * Self pairs and per-sample modes: the official code pairs by ``flip`` and asserts ``mode == 'batch'``; ours
          also accepts ``pairing='perm'`` (a sample paired with itself, probability 1/B per sample, stays unmixed)
          and ``RandomMix`` ``mode='elem'``/``'pair'`` (TransMix applies per box-mixed sample). Never at defaults
          (flip, batch). Flag: ``pairing='flip'``, ``mode='batch'`` restore the reference.
        * Zero-area boxes: the official lam is ``(0 + 0) / 2``, target ``y_a``; ours keeps lam = 1: the same target
          (tested). Not a difference in output.
        * Token grid: the official mask is ``nn.Upsample(size=int(sqrt(N)))``, so a non-square grid (e.g. 224x160
          inputs, 14x10 tokens) crashes there; ours uses the patch embedding's grid (or infers it from the aspect).
          At integer pixel-per-token ratios (every patch-embedding model) the masks are equal (tested); see
          :func:`box_token_mask` for non-integer ratios (13 of 3154 sizes). Flag: none (no reference output).
        * Prefix tokens: the official row is ``attn[:, :, 0, 1:]``; on a distilled DeiT it would keep the
          distillation token as a "patch" and fail on the 197- vs 196-token mask (the release has only
          ``deit_{small,base}_patch16_224_return_attn``). Ours drops all prefix tokens (distillation, registers).
          Plain ViT/DeiT: equal (tested). Flag: none.
        * Models: the release has DeiT only. CaiT and XCiT (their class-attention layers) and CA-Swin
          (:class:`openmix.models.backbones.ClassAttentionHeadBackbone`, our design of the paper's CA-Swin) have no
          reference code or output here. Flag: none.
        * Precision: the official row is computed in the forward's dtype (fp32 in its configs, which do not set
          ``--amp``); ours is computed in fp32 from the captured q/k, whatever the autocast dtype. fp32: equal to
          2e-6; under mixed precision not measured. Flag: none.
        * ``attn_weight`` generalises the hard-coded ``/ 2`` (the official ``ratio=0.5`` argument is unused); the
          default 0.5 is the reference. The denominator ``sum(A)`` is clamped away from 0, never active on
          post-softmax rows (they sum to 1).
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
