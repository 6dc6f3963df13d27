"""TL-Align label rule: each token's label is traced through the attention layers; the class token's is the target."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openmix.mixers.base import MixedBatch
from openmix.mixers.geometry import mix_target
from openmix.registry import MODELS

from .area import AreaLabel


def box_token_share(box: torch.Tensor, img_hw: tuple[int, int], grid_hw: tuple[int, int]) -> torch.Tensor:
    """``(B, gh * gw)`` fraction of each token's patch covered by the box ``(y_lo, y_hi, x_lo, x_hi)``.

    Token ``(i, j)`` covers pixels ``[i p, (i + 1) p)`` with ``p = H // gh`` (what a strided patch embedding reads; a
    remainder at the border is read by no token), the same along the width; its share is the overlap area over the
    patch area. A box on the patch grid gives 0/1 (the reference's token box).
    """
    (h, w), (gh, gw) = img_hw, grid_hw
    box = box.to(torch.float32)

    def overlap(size: int, n: int, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        edges = torch.arange(n + 1, device=box.device) * (size // n)
        a, b = edges[:-1].float()[None], edges[1:].float()[None]  # (1, n)
        return (torch.minimum(b, hi[:, None]) - torch.maximum(a, lo[:, None])).clamp_min(0) / (b - a)

    oy = overlap(h, gh, box[:, 0], box[:, 1])
    ox = overlap(w, gw, box[:, 2], box[:, 3])
    return (oy[:, :, None] * ox[:, None, :]).flatten(1)


def token_partner_share(mixed: MixedBatch, grid_hw: tuple[int, int]) -> torch.Tensor:
    """``(B, gh * gw)`` share of the partner in each token's patch, from what the mixer recorded.

    A pixel mask (``mixed.mask``, ``(B, 1, H, W)``) is averaged over each patch (patches as in
    :func:`box_token_share`); else a box (``mixed.box``) gives :func:`box_token_share` on box-mixed samples; samples
    mixed otherwise (Mixup) get ``1 - lam`` on every token. A sample paired with itself has no partner share.
    """
    h, w = mixed.inputs.shape[-2:]
    b = mixed.inputs.shape[0]
    device = mixed.inputs.device
    uniform = (1 - mixed.lam.to(device, torch.float32))[:, None].expand(b, grid_hw[0] * grid_hw[1])
    if mixed.mask is not None and mixed.mask.shape[-1] > 1:
        ph, pw = h // grid_hw[0], w // grid_hw[1]
        mask = mixed.mask.float()[..., :ph * grid_hw[0], :pw * grid_hw[1]]
        share = F.avg_pool2d(mask, (ph, pw)).flatten(1)
    elif mixed.box is not None:
        share = box_token_share(mixed.box.to(device), (h, w), grid_hw)
        if mixed.is_box is not None:
            share = torch.where(mixed.is_box.to(device)[:, None], share, uniform)
    else:
        share = uniform
    self_pair = mixed.index.to(device) == torch.arange(b, device=device)
    return share.masked_fill(self_pair[:, None], 0.0)


def has_token_geometry(mixed: MixedBatch) -> bool:
    """Whether the mix varies over the image (a box or a pixel mask); decided from shapes, without a device sync."""
    return mixed.box is not None or (mixed.mask is not None and mixed.mask.shape[-1] > 1)


@MODELS.register_module()
class TLAlignLabel(AreaLabel):
    """Token-Label Alignment (Xiao et al., "Token-Label Alignment for Vision Transformers", ICCV 2023).

    Paper: https://arxiv.org/abs/2210.06455 (Sec. 3.2-3.3). Each input token starts with the label of the image its
    patch came from; the labels then follow the tokens through the network. Writing a token's label as the partner's
    share ``m`` (its label is ``(1 - m) y_a + m y_b``), an attention layer mixes them with its own attention map and
    the residual connection averages input and output labels (the paper's Eq. 6-8, as the official code does it):

        m_l = (mean_heads(softmax(Q_l K_l^T / sqrt(d))) m_{l-1} + m_{l-1}) / 2

    The MLP acts per token and leaves labels unchanged. The class token starts with the area label
    (``m_0[cls] = 1 - lam``, the input mixer's ratio) and its label after the last block is the target:
    ``y = (1 - m_L[cls]) y_a + m_L[cls] y_b`` on the already-smoothed one-hots. Because attention rows sum to one,
    tracing ``m`` is exactly tracing the full ``(N, K)`` soft labels of the reference (they stay on the segment
    between ``y_a`` and ``y_b``), at ``1 / K`` of the cost.

    Patch tokens start with the partner's share of their patch (:func:`token_partner_share`): 0/1 for boxes and masks
    on the patch grid (the official token-level CutMix, MaskMix), the fraction covered for boxes off the grid
    (CutMix's pixel boxes), ``1 - lam`` on Mixup samples, whose traced label then stays the area label (a constant
    ``m`` is a fixed point), so Mixup batches skip the tracing. Labels carry no gradient.

    Attention is read through forward hooks on every block's ``attn.qkv`` of a stock timm ViT/DeiT; fused attention
    stays on. Per block the hook runs one extra fused attention call in fp32 under ``no_grad`` on the detached q/k
    with the traced shares as the values (zero-padded to the head width so the fused kernels apply): about the
    cost of one attention forward per block (no backward, no ``N x N`` matrix kept): ``4 B N^2 C`` FLOPs per block,
    about 2.6 % of a DeiT-S/16 training step at 224 px (and of the demo model's), and ``O(B h N d)`` transient memory
    per block. Measured step times against CutMix: ``benchmarks/new_methods_label.py``.

    Args:
        pool: Which traced label is the target: ``'auto'`` (the class token when the model's head reads it,
            ``global_pool='token'``; the mean of the patch tokens for ``global_pool='avg'``), ``'token'`` or
            ``'avg'``.

    Example:
        >>> label_assigner = dict(type='TLAlignLabel')  # with mixer=dict(type='CutMix') or a Mixup/CutMix switch

    Differences from the reference code:
        Reference: github.com/Euphoria16/TL-Align @ 4da0621 (``tla.py``: ``TL_AlignMix``; its
        ``timm/models/vision_transformer.py``: ``Attention``/``Block``/``VisionTransformer`` with ``label_embed``),
        run outside the repo on a 3-block ViT (48 px, 6x6 tokens), recorded in ``tests/fixtures/reference/
        tl_align.npz`` (see ``tl_align.md``). Tested equal (``tests/models/test_tl_align.py``): on the reference's
        mixed images and token boxes (an empty box included) our hooked stock timm ViT with fused attention gives
        the reference's traced class-token label (max abs difference 6e-8) and its logits (5e-8). Deviations:

        * Input mixing: the reference pastes a box on the token grid (``rand_token_bbox``: even sides
          ``2 * (cut // 2)`` tokens, in every batch with ``--cutmix``; Mixup is off by default, and on a Mixup batch
          its ``token_label(mask=None)`` raises). Ours takes any mixer: pixel boxes off the patch grid start with
          fractional token shares (every CutMix batch whose box is not patch-aligned: almost all at 224 px / 16 px),
          pixel masks are averaged per patch, Mixup batches keep area labels (the traced label equals the area
          label). A patch-aligned box gives the reference's 0/1 start exactly (tested). Flag: none (no
          token-grid box mixer here; MaskMix with ``mask_patch_size`` = the model patch gives grid-aligned masks).
        * Labels traced as the partner's share instead of ``(N, K)`` soft labels: equal by linearity (tested to
          6e-8), never a difference beyond rounding.
        * Precision: the reference traces in the forward's dtype (fp16 under its ``autocast``); ours in fp32
          whatever the autocast dtype. fp32: equal; mixed precision not measured. Flag: none.
        * Prefix tokens: the reference's label tensor has ``1 + N`` rows, so a distilled DeiT (2 prefix tokens)
          crashes there; ours starts every prefix token with the area label and reads the class token. Plain
          ViT/DeiT: equal. Flag: none.
        * ``global_pool='avg'`` (no class token read by the head): not in the reference (ViT/DeiT only; its Swin
          results have no released code); ours averages the patch tokens' traced labels. Never at the defaults of
          ViT/DeiT. Flag: ``pool='token'``.
        * Odd batches and ``pairing='perm'``: the reference asserts an even batch and flips; ours pairs the middle
          sample with itself (unmixed). Never with even batches and flip pairing. Flag: ``pairing='flip'``.
    """

    def __init__(self, pool: str = 'auto') -> None:
        super().__init__()
        if pool not in ('auto', 'token', 'avg'):
            raise ValueError(f"TLAlignLabel: pool must be 'auto', 'token' or 'avg', got {pool!r}")
        self.pool = pool
        self.active = False
        self.share: torch.Tensor | None = None  # (B, N) partner share of every token, traced block by block
        self.handles = []
        self.grid_size = None
        self.num_prefix = 1

    def attach(self, backbone: nn.Module) -> None:
        model = getattr(backbone, 'model', backbone)
        name = getattr(backbone, 'model_name', type(model).__name__)
        blocks = getattr(model, 'blocks', None)
        ok = blocks is not None and len(blocks) > 0 and all(
            isinstance(getattr(getattr(blk, 'attn', None), 'qkv', None), nn.Linear) for blk in blocks)
        grid = getattr(getattr(model, 'patch_embed', None), 'grid_size', None)
        if not ok or grid is None:
            raise ValueError(
                f'TL-Align traces token labels through the attention of every block and needs a timm '
                f'VisionTransformer/DeiT (blocks[i].attn.qkv and a patch grid); {name!r} has none. Use '
                "label_assigner=dict(type='AreaLabel') or 'TransMixLabel' for other models.")
        global_pool = getattr(model, 'global_pool', 'token')
        pool = self.pool
        if pool == 'auto':
            if global_pool not in ('token', 'avg'):
                raise ValueError(f"TL-Align: {name!r} has global_pool={global_pool!r}; the traced label of the class "
                                 "token ('token') or the mean of the patch tokens ('avg') is what a head can read. "
                                 "Set backbone.global_pool or label_assigner.pool")
            pool = global_pool
        if pool == 'token' and not getattr(model, 'has_class_token', getattr(model, 'cls_token', None) is not None):
            raise ValueError(f"TL-Align: {name!r} has no class token; use pool='avg'")
        self.read_pool = pool
        self.grid_size = tuple(int(g) for g in grid)
        self.num_prefix = int(getattr(model, 'num_prefix_tokens', 1))
        for blk in blocks:
            self.handles.append(blk.attn.qkv.register_forward_hook(self._make_hook(blk.attn)))

    def _make_hook(self, attn: nn.Module):
        def on_qkv(module, inputs, output):
            if not self.active:
                return
            with torch.no_grad(), torch.autocast(output.device.type, enabled=False):
                b, n, _ = output.shape
                qkv = output.detach().reshape(b, n, 3, attn.num_heads, -1)
                q, k = qkv[:, :, 0].transpose(1, 2), qkv[:, :, 1].transpose(1, 2)  # (B, h, N, d)
                q, k = attn.q_norm(q).float(), attn.k_norm(k).float()
                m = self.share
                # the traced shares as values, zero-padded to the head width: the fused kernels apply
                v = m.new_zeros(q.shape)
                v[..., 0] = m[:, None]
                out = F.scaled_dot_product_attention(q, k, v, scale=attn.scale)[..., 0].mean(1)  # (B, N)
                self.share = 0.5 * (out + m)
        return on_qkv

    def prepare(self, mixed: MixedBatch) -> None:
        """Before the forward pass: the partner's share of every input token (prefix tokens: the area share)."""
        self.active = has_token_geometry(mixed)
        if not self.active:
            return
        patches = token_partner_share(mixed, self.grid_size)
        prefix = (1 - mixed.lam.to(patches.device, torch.float32))[:, None].expand(-1, self.num_prefix)
        self.share = torch.cat([prefix, patches], 1)

    def traced_lam(self) -> torch.Tensor:
        """Weight of the unshuffled sample read from the traced shares (class token or mean of the patches)."""
        m = self.share[:, 0] if self.read_pool == 'token' else self.share[:, self.num_prefix:].mean(1)
        return 1 - m

    def forward(self, targets: torch.Tensor, mixed: MixedBatch) -> torch.Tensor:
        if not self.active:
            return super().forward(targets, mixed)
        self.active = False
        lam = self.traced_lam().to(targets.dtype)
        self.share = None
        return mix_target(targets, mixed.index, lam)

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []
