"""AutoMix's MixBlock: a learned pixel mask from the feature maps of a sample and its partner.

Liu et al., "AutoMix: Unveiling the Power of Mixup for Stronger Classifiers", ECCV 2022, Sec. 3.2 (Eq. 5-7), and
Li et al., "Boosting Discriminative Visual Representation Learning with Scenario-Agnostic Mixup" (SAMix),
arXiv:2111.15454, Sec. 4 (Mixer with adaptive lambda encoding, non-linear content modelling, Eq. 8-10). The
numbers and switches follow OpenMixup's ``PixelMixBlock`` (``openmixup/models/heads/pmix_block.py``) and the
AutoMix/SAMix configs under ``configs/classification/{cifar100,imagenet}/{automix,samix}``.

Shapes: the input feature map ``z`` is ``(B, C, h, w)``; the output is the partner's weight ``m_B`` of shape
``(B, 1, h * s, w * s)`` with ``s`` the upsampling factor (image size / feature size), so that
``mixed = x * (1 - m_B) + x[index] * m_B`` and the label weight of the unshuffled sample is the sampled ``lam``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from openmix.registry import MODELS

__all__ = ['MixBlock', 'SAMixBlock', 'mix_mask_loss', 'rescale_lam']

MASK_LOSS_MODES = ('L1', 'L1+Variance', 'L2+Variance', 'Sparsity')


def rescale_lam(lam: float, k: float) -> float:
    """SAMix's lambda rescaling before the multiplicative encoding (OpenMixup ``rescale_lam_mult``).

    ``f(lam) = (4/3 lam^3 - 2 lam^2 + k' lam) / (k' - 2/3)`` with ``k' = k + 1``: a cubic through (0, 0), (0.5, 0.5)
    and (1, 1) that flattens around 0.5 as ``k`` falls (``k = 0.25`` on CIFAR, off with ``k < 0`` on ImageNet).
    """
    if k < 0:
        raise ValueError(f'rescale_lam needs k >= 0, got {k}')
    k = k + 1.0
    return (4.0 / 3.0 * lam ** 3 - 2.0 * lam ** 2 + k * lam) / (k - 2.0 / 3.0)


def mix_mask_loss(mask: torch.Tensor, lam: float, mode: str = 'L1', margin: float = 0.1) -> torch.Tensor:
    """Loss that ties the learned mask to the sampled lam (AutoMix Eq. 8; SAMix Eq. 10), computed in fp32.

    With ``mean`` the mean of ``mask`` (the partner's weight ``m_B``) over the whole batch and all pixels:

    * ``'L1'`` (AutoMix): ``max(|1 - mean - lam| - margin, 0)``.
    * ``'L1+Variance'`` (SAMix): the L1 term minus ``2 * mean((mask - mean)^2)``, rewarding confident masks.
    * ``'L2+Variance'``: ``max((1 - mean - lam)^2 - margin^2, 0) - 2 * variance``.
    * ``'Sparsity'``: ``max(mean(|mask * (mask - 1)|) - margin, 0)``.

    Args:
        mask: ``(B, 1, H, W)`` partner weight in ``[0, 1]``.
        lam: the sampled weight of the unshuffled sample.
        mode: one of ``'L1'``, ``'L1+Variance'``, ``'L2+Variance'``, ``'Sparsity'``.
        margin: tolerance before the loss starts (OpenMixup ``mask_loss_margin``, 0.1 in every config).

    Returns:
        a scalar fp32 tensor (unweighted; the classifier multiplies it by ``mask_loss``).
    """
    mask = mask.float()
    mean = mask.mean()
    if mode == 'Sparsity':
        return torch.clamp((mask * (mask - 1)).abs().mean() - margin, min=0.0)
    gap = 1.0 - mean - lam
    if mode == 'L1':
        return torch.clamp(gap.abs() - margin, min=0.0)
    variance = (mask - mean).pow(2).mean()
    if mode == 'L1+Variance':
        return torch.clamp(gap.abs() - margin, min=0.0) - 2.0 * variance
    if mode == 'L2+Variance':
        return torch.clamp(gap.pow(2) - margin ** 2, min=0.0) - 2.0 * variance
    raise ValueError(f'mask_loss_mode must be one of {MASK_LOSS_MODES}, got {mode!r}')


class ValueNeck(nn.Sequential):
    """SAMix's non-linear value embedding (OpenMixup ``ConvNeck``): ``[1x1 conv - BN - ELU] x (n - 1)``, a last
    1x1 conv to one channel, then dropout. Convolutions have no bias, as ``ConvNeck(with_bias=False)``."""

    def __init__(self, in_channels: int, hid_channels: int, num_layers: int = 2, dropout: float = 0.0) -> None:
        if num_layers < 1:
            raise ValueError(f'mix_block.value_neck.num_layers must be >= 1, got {num_layers}')
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f'mix_block.value_neck.dropout must be in [0, 1), got {dropout}')
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(num_layers - 1):
            layers += [nn.Conv2d(channels, hid_channels, 1, bias=False), nn.BatchNorm2d(hid_channels),
                       nn.ELU(inplace=True)]
            channels = hid_channels
        layers.append(nn.Conv2d(channels, 1, 1, bias=False))
        if num_layers == 1:  # ConvNeck puts the activation after a lone layer
            layers.append(nn.ELU(inplace=True))
        layers.append(nn.Dropout(dropout) if dropout > 0 else nn.Identity())
        super().__init__(*layers)


@MODELS.register_module()
class MixBlock(nn.Module):
    """AutoMix's MixBlock (OpenMixup ``PixelMixBlock``): cross attention between a sample and its partner.

    For features ``z`` ``(B, C, h, w)``, a partner index and the sampled ``lam`` (AutoMix Sec. 3.2, Eq. 5-7):

    1. ``z_A = z`` and ``z_B = z[index]``, embedded with lam: ``lam_concat`` appends a constant channel ``lam`` to
       ``z_A`` and ``1 - lam`` to ``z_B`` (AutoMix on ImageNet and DeiT; CIFAR configs use no lam embedding);
       ``lam_mul`` scales them (SAMix; ``lam_residual``: ``z_A (1 + lam')``, ``z_B (1 + (1 - lam'))``, with
       ``lam' = rescale_lam(lam, lam_mul_k)`` when ``lam_mul_k >= 0``).
    2. ``v = value(z_B)`` with one channel (a 1x1 conv, or SAMix's :class:`ValueNeck`).
    3. ``q = query(z_A)`` and ``k = query(z_B)``: the **same** 1x1 conv with ``C / reduction`` channels. With
       ``x_qk_concat`` (SAMix) both sides are ``concat(z_A, z_B)`` and ``k`` comes from a separate ``key`` conv.
    4. ``P = softmax(q k^T / sqrt(C / reduction))`` over ``hw x hw`` and ``m_B = sigmoid(up(P v))``, where ``up``
       is ``upsample_mode`` interpolation by the image/feature size ratio (nearest for AutoMix, bilinear for
       SAMix). The whole block runs in fp32 with autocast off, which OpenMixup's code also forces (fp16 attention
       logits overflow).

    Every conv is initialised from N(0, 0.01) with zero bias, BatchNorm to (1, 0), the init of OpenMixup's
    ``init_weights(init_linear='normal')``.

    Args:
        in_channels: channels ``C`` of the feature map (the classifier fills it from the timm ``feature_info``).
        reduction: ``C / reduction`` channels of the query and key.
        use_scale: divide the logits by ``sqrt(C / reduction)``.
        upsample_mode: ``'nearest'`` (AutoMix), ``'bilinear'`` (SAMix) or ``'bicubic'``.
        lam_concat: append ``lam`` / ``1 - lam`` channels to the inputs of q, k and v.
        lam_concat_v: append a ``1 - lam`` channel to the value input only.
        lam_mul: strength of the multiplicative lam encoding (SAMix: 1; 0 is off).
        lam_mul_k: ``k`` of :func:`rescale_lam` (SAMix CIFAR 0.25; negative: no rescaling).
        lam_residual: residual form of the multiplicative encoding (SAMix).
        value_neck: None for a 1x1 conv value, or ``dict(hid_channels=C // 2, num_layers=2, dropout=0.0)`` for
            SAMix's non-linear value (OpenMixup ``value_neck_cfg=ConvNeck``).
        x_qk_concat: q and k from ``concat(z_A, z_B)`` with a separate key conv (SAMix).
        x_v_concat: value from ``concat(z_A, z_B)``.
        mask_loss_mode: see :func:`mix_mask_loss` (AutoMix ``'L1'``, SAMix ``'L1+Variance'``).
        mask_loss_margin: the margin of the mask loss (0.1 in every official config).
        init_std: std of the normal init of the convs.

    Example:
        >>> block = MixBlock(in_channels=256, lam_concat=True)
        >>> m = block(torch.randn(4, 256, 8, 8), lam=0.3, index=torch.randperm(4), scale_factor=4)
        >>> m.shape
        torch.Size([4, 1, 32, 32])

    Differences from the reference code:
        Reference: OpenMixup ``heads/pmix_block.py`` (``PixelMixBlock``) @37e1372. Tested only against an einsum
        re-derivation of its forward from the block's own weights (``tests/models/test_automix.py``), not against
        recorded OpenMixup output. Known differences:

        - Combinations of switches that ``PixelMixBlock`` rejects are refused here too; no other difference in the
          forward is known. Random init: the same distribution (N(0, 0.01)), different draws (torch's RNG under
          the run seed). Flag: none; not reproducible.
        - The mask loss and the ``lam_mul_k`` rescaling are written from OpenMixup's ``mask_loss``/
          ``rescale_lam_mult``; not compared with recorded output.
    """

    def __init__(self, in_channels: int, reduction: int = 2, use_scale: bool = True, upsample_mode: str = 'nearest',
                 lam_concat: bool = False, lam_concat_v: bool = False, lam_mul: float = 0.0, lam_mul_k: float = -1.0,
                 lam_residual: bool = False, value_neck: dict | None = None, x_qk_concat: bool = False,
                 x_v_concat: bool = False, mask_loss_mode: str = 'L1', mask_loss_margin: float = 0.1,
                 init_std: float = 0.01) -> None:
        super().__init__()
        if upsample_mode not in ('nearest', 'bilinear', 'bicubic'):
            raise ValueError(f"mix_block.upsample_mode must be 'nearest', 'bilinear' or 'bicubic', got "
                             f'{upsample_mode!r}')
        if mask_loss_mode not in MASK_LOSS_MODES:
            raise ValueError(f'mix_block.mask_loss_mode must be one of {MASK_LOSS_MODES}, got {mask_loss_mode!r}')
        lam_mul = float(lam_mul)
        if not 0.0 <= lam_mul <= 1.0:
            raise ValueError(f'mix_block.lam_mul must be in [0, 1], got {lam_mul}')
        # the combinations OpenMixup's PixelMixBlock rejects
        if lam_concat and lam_concat_v:
            raise ValueError('mix_block: set lam_concat (q, k and v) or lam_concat_v (v only), not both')
        if lam_concat and lam_mul > 0:
            raise ValueError('mix_block: lam_concat and lam_mul both encode lam; set only one')
        if lam_concat and x_qk_concat:
            raise ValueError('mix_block: with x_qk_concat both q and k see concat(z_A, z_B); lam_concat is unused')
        if lam_concat_v and x_v_concat:
            raise ValueError('mix_block: lam_concat_v and x_v_concat both define the value input; set only one')
        self.in_channels = int(in_channels)
        self.inter_channels = max(self.in_channels // int(reduction), 1)
        self.use_scale = use_scale
        self.upsample_mode = upsample_mode
        self.lam_concat, self.lam_concat_v = lam_concat, lam_concat_v
        self.lam_mul, self.lam_mul_k, self.lam_residual = lam_mul, float(lam_mul_k), lam_residual
        self.x_qk_concat, self.x_v_concat = x_qk_concat, x_v_concat
        self.mask_loss_mode, self.mask_loss_margin = mask_loss_mode, max(float(mask_loss_margin), 0.0)

        c = self.in_channels
        qk_in = 2 * c if x_qk_concat else c + int(lam_concat)
        v_in = 2 * c if x_v_concat else c + int(lam_concat or lam_concat_v)
        if value_neck is None:
            self.value = nn.Conv2d(v_in, 1, 1)
        else:
            neck = dict(value_neck)
            unknown = sorted(set(neck) - {'hid_channels', 'num_layers', 'dropout'})
            if unknown:
                raise KeyError(f'unknown mix_block.value_neck keys {unknown}; expected hid_channels, num_layers, '
                               f'dropout')
            self.value = ValueNeck(v_in, int(neck.get('hid_channels') or c // 2), int(neck.get('num_layers', 2)),
                                   float(neck.get('dropout', 0.0)))
        self.query = nn.Conv2d(qk_in, self.inter_channels, 1)
        self.key = nn.Conv2d(qk_in, self.inter_channels, 1) if x_qk_concat else None
        self.reset_parameters(init_std)

    def reset_parameters(self, std: float = 0.01) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def embed(self, z: torch.Tensor, lam: float, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                                 torch.Tensor]:
        """(query input, key input, value input) of a ``(B, C, h, w)`` fp32 feature map."""
        z_a, z_b = z, z.index_select(0, index)
        if self.lam_mul > 0:
            lam_e = rescale_lam(lam, self.lam_mul_k) if self.lam_mul_k >= 0 else lam
            if self.lam_residual:
                z_a, z_b = z_a * (1 + lam_e * self.lam_mul), z_b * (1 + (1 - lam_e) * self.lam_mul)
            else:
                z_a, z_b = z_a * lam_e, z_b * (1 - lam_e)
        if self.lam_concat:
            z_a = torch.cat([z_a, z_a.new_full((z.shape[0], 1, *z.shape[2:]), lam)], dim=1)
            z_b = torch.cat([z_b, z_b.new_full((z.shape[0], 1, *z.shape[2:]), 1 - lam)], dim=1)
        v_in = z_b
        if self.x_v_concat:
            v_in = torch.cat([z_a, z_b], dim=1)
        elif self.lam_concat_v:
            v_in = torch.cat([z_b, z_b.new_full((z.shape[0], 1, *z.shape[2:]), 1 - lam)], dim=1)
        if self.x_qk_concat:
            z_a = z_b = torch.cat([z_a, z_b], dim=1)
        return z_a, z_b, v_in

    def forward(self, z: torch.Tensor, lam: float, index: torch.Tensor,
                scale_factor: int | tuple[int, int]) -> torch.Tensor:
        """Partner weight ``m_B`` ``(B, 1, h * s, w * s)`` in ``(0, 1)``, fp32, for features ``z`` ``(B, C, h, w)``.

        Args:
            z: feature map of the unmixed batch (any dtype; computed in fp32).
            lam: sampled weight of the unshuffled sample.
            index: ``(B,)`` partner of each sample.
            scale_factor: upsampling factor from the feature grid to the image.
        """
        with torch.autocast(device_type=z.device.type, enabled=False):
            n, _, h, w = z.shape
            q_in, k_in, v_in = self.embed(z.float(), float(lam), index)
            v = self.value(v_in).reshape(n, h * w, 1)
            q = self.query(q_in).flatten(2).transpose(1, 2)  # (n, hw, C/r)
            k = (self.key if self.key is not None else self.query)(k_in).flatten(2)  # (n, C/r, hw)
            logits = torch.bmm(q, k)
            if self.use_scale:
                logits = logits / math.sqrt(self.inter_channels)
            attn = logits.softmax(dim=-1)  # (n, hw, hw): row i weighs the partner's positions for position i
            mask = torch.bmm(attn, v).reshape(n, 1, h, w)
            mask = F.interpolate(mask, scale_factor=scale_factor, mode=self.upsample_mode)
            return torch.sigmoid(mask)

    def mask_loss(self, mask: torch.Tensor, lam: float) -> torch.Tensor:
        """:func:`mix_mask_loss` with this block's mode and margin (unweighted, fp32)."""
        with torch.autocast(device_type=mask.device.type, enabled=False):
            return mix_mask_loss(mask, lam, self.mask_loss_mode, self.mask_loss_margin)

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, inter_channels={self.inter_channels}, '
                f'upsample_mode={self.upsample_mode!r}, lam_concat={self.lam_concat}, lam_mul={self.lam_mul}, '
                f'x_qk_concat={self.x_qk_concat}, mask_loss={self.mask_loss_mode!r}@{self.mask_loss_margin}')


@MODELS.register_module()
class SAMixBlock(MixBlock):
    """SAMix's Mixer (Li et al., arXiv:2111.15454, Sec. 4.2): :class:`MixBlock` with SAMix's defaults.

    Bilinear upsampling; adaptive lam encoding ``z_A (1 + lam')``, ``z_B (1 + (1 - lam'))`` (``lam_mul=1``,
    ``lam_residual``; ``lam_mul_k=0.25`` on CIFAR, ``-1`` on ImageNet); q and k from ``concat(z_A, z_B)`` with a
    separate key conv; a 2-layer non-linear value (1x1 conv - BN - ELU - 1x1 conv, ``C // 2`` hidden channels,
    dropout 0.1 on ImageNet and DeiT, 0 on CIFAR ResNets); and the ``'L1+Variance'`` mask loss. These are the
    settings of OpenMixup's ResNet/ConvNeXt SAMix configs; its ViT configs (DeiT, Swin) use ``upsample_mode=
    'nearest'``. Any of them can be overridden.

    Differences from the reference code:
        As :class:`MixBlock` (OpenMixup ``PixelMixBlock`` with SAMix's configs; not tested against recorded
        OpenMixup output). The defaults are those of the ResNet/ConvNeXt configs: OpenMixup's DeiT/Swin SAMix rows
        need ``upsample_mode='nearest'`` (every step of those runs). Flag: ``upsample_mode='nearest'``.
    """

    def __init__(self, in_channels: int, upsample_mode: str = 'bilinear', lam_mul: float = 1.0,
                 lam_mul_k: float = -1.0, lam_residual: bool = True, value_neck: dict | None = None,
                 x_qk_concat: bool = True, mask_loss_mode: str = 'L1+Variance', **kwargs) -> None:
        value_neck = dict(dict(hid_channels=None, num_layers=2, dropout=0.1), **(value_neck or {}))
        super().__init__(in_channels, upsample_mode=upsample_mode, lam_mul=lam_mul, lam_mul_k=lam_mul_k,
                         lam_residual=lam_residual, value_neck=value_neck, x_qk_concat=x_qk_concat,
                         mask_loss_mode=mask_loss_mode, **kwargs)
