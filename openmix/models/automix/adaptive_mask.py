"""AdAutoMix's generator: one softmax mask per mixed image, from cross attention between the images' features.

Qin et al., "Adversarial AutoMixup", ICLR 2024 (arXiv:2312.11954), Sec. 3.1 (the generator, Eq. 2-4). The numbers
and switches follow the official ``AdaptiveMask`` (github.com/JinXins/Adversarial-AutoMixup,
``openmixup/models/heads/Ada_mix_pine.py``).

Shapes: ``n`` feature maps ``(B, C, h, w)`` (image ``i`` of the mixture is ``x[index_i]``) and ``n`` weights lam_i;
the output is ``(B, n, h * s, w * s)`` with a softmax over the ``n`` images at every pixel, so that
``mixed = sum_i x[index_i] * mask[:, i]``.
Section and equation numbers in this file are [UNVERIFIED]: not checked against the paper's PDF in this work.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from openmix.registry import MODELS

__all__ = ['AdaptiveMaskBlock']


@MODELS.register_module()
class AdaptiveMaskBlock(nn.Module):
    """AdAutoMix's generator (official ``AdaptiveMask``): a mask for each of ``n >= 2`` images.

    For feature maps ``z_1 .. z_n`` and weights ``lam_1 .. lam_n`` (Sec. 3.1, Eq. 2-4):

    1. With ``lam_concat``, a constant channel ``lam_i`` is appended to ``z_i`` (two images: ``lam`` and
       ``1 - lam``).
    2. ``q_i = relu(query(z_i))``, ``k_i = relu(key(z_i))`` (1x1 convs with bias and ReLU, mmcv ``ConvModule``'s
       default activation, ``C / reduction`` channels) and ``v_i = value(z_i)`` (a 1x1 conv to one channel).
    3. Image ``i`` attends to the others: ``P_i = softmax(q_i (sum_{j != i} k_j)^T / sqrt(C / reduction))`` over
       ``hw x hw`` (for two images ``q_1 k_2^T`` and ``q_2 k_1^T``), and ``m_i = P_i v_i``.
    4. The ``n`` maps are upsampled by the image/feature size ratio (``upsample_mode``) and normalised with a
       softmax over the images, so the weights of every pixel sum to one.

    The block runs in fp32 with autocast off (the official code casts the attention to fp32). Every conv is
    initialised from N(0, 0.01) with zero bias (the official ``init_weights(init_linear='normal')``).

    Args:
        in_channels: channels ``C`` of the feature map (the classifier fills it from the timm ``feature_info``).
        reduction: ``C / reduction`` channels of the query and key.
        use_scale: divide the logits by ``sqrt(C / reduction)``.
        upsample_mode: ``'bilinear'`` (CNN configs), ``'nearest'`` (ViT configs) or ``'bicubic'``.
        lam_concat: append the ``lam_i`` channel to each input (False in the CIFAR/ImageNet configs).
        init_std: std of the normal init of the convs.

    Example:
        >>> block = AdaptiveMaskBlock(in_channels=256)
        >>> z = torch.randn(4, 256, 8, 8)
        >>> m = block([z, z[torch.randperm(4)], z[torch.randperm(4)]], [0.5, 0.3, 0.2], scale_factor=4)
        >>> m.shape, torch.allclose(m.sum(1), torch.ones(4, 32, 32))
        (torch.Size([4, 3, 32, 32]), True)

    Differences from the reference code:
        Reference: github.com/JinXins/Adversarial-AutoMixup @9d6fd12 (``openmixup/models/heads/Ada_mix_pine.py``,
        ``AdaptiveMask.forward``). Tested against its recorded output with the same weights
        (``tests/fixtures/reference/adautomix_mask.npz``: 2, 3 and 4 images, with and without ``lam_concat``,
        bilinear and nearest; max abs diff 1.2e-7, ``tests/models/test_adautomix.py``). What differs:

        - The official block replaces NaN masks by a float64 recomputation with fixed fill values and clamps
          infinite attention logits to +-1e25; ours does neither (fp32 logits of 1x1 convs stay finite in every
          test). Never observed; flag: none.
        - ``unsampling_mode='None'`` (a random mode per call, unused by every config) is not offered.
        - The official ``normal_mix`` (two images) and ``co_mix`` (three or more) are one batched path here:
          ``q_i (sum_{j != i} k_j)^T`` instead of a sum of ``n - 1`` products; equal up to float rounding
          (the fixture covers both paths).
    """

    def __init__(self, in_channels: int, reduction: int = 2, use_scale: bool = True,
                 upsample_mode: str = 'bilinear', lam_concat: bool = False, init_std: float = 0.01) -> None:
        super().__init__()
        if upsample_mode not in ('nearest', 'bilinear', 'bicubic'):
            raise ValueError(f"mix_block.upsample_mode must be 'nearest', 'bilinear' or 'bicubic', got "
                             f'{upsample_mode!r}')
        self.in_channels = int(in_channels)
        self.inter_channels = max(self.in_channels // int(reduction), 1)
        self.use_scale = use_scale
        self.upsample_mode = upsample_mode
        self.lam_concat = lam_concat
        c = self.in_channels + int(lam_concat)
        self.query = nn.Conv2d(c, self.inter_channels, 1)
        self.key = nn.Conv2d(c, self.inter_channels, 1)
        self.value = nn.Conv2d(c, 1, 1)
        self.reset_parameters(init_std)

    def reset_parameters(self, std: float = 0.01) -> None:
        for m in (self.query, self.key, self.value):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)

    def forward(self, feats: Sequence[torch.Tensor], lams: Sequence[float],
                scale_factor: int | tuple[int, int]) -> torch.Tensor:
        """``(B, n, h * s, w * s)`` fp32 weights of the ``n`` images (softmax over the images).

        Args:
            feats: ``n`` feature maps ``(B, C, h, w)``, one per mixed image (any dtype; computed in fp32).
            lams: ``n`` weights of the images (two images: ``[lam, 1 - lam]``).
            scale_factor: upsampling factor from the feature grid to the image.
        """
        n = len(feats)
        if n < 2 or len(lams) != n:
            raise ValueError(f'AdaptiveMaskBlock needs n >= 2 feature maps and as many lams, got {n} and '
                             f'{len(lams)}')
        with torch.autocast(device_type=feats[0].device.type, enabled=False):
            z = torch.stack([f.float() for f in feats])  # (n, B, C, h, w)
            _, b, _, h, w = z.shape
            if self.lam_concat:
                lam = torch.tensor([float(v) for v in lams], dtype=z.dtype).to(z.device, non_blocking=True)
                z = torch.cat([z, lam.view(n, 1, 1, 1, 1).expand(n, b, 1, h, w)], dim=2)
            z = z.flatten(0, 1)  # (n B, C', h, w)
            q = F.relu(self.query(z)).flatten(2).transpose(1, 2).reshape(n, b, h * w, -1)  # (n, B, hw, c)
            k = F.relu(self.key(z)).flatten(2).reshape(n, b, -1, h * w)  # (n, B, c, hw)
            v = self.value(z).reshape(n, b, h * w, 1)
            k_others = k.sum(0, keepdim=True) - k  # image i attends to the sum of the other images' keys
            logits = torch.matmul(q, k_others)
            if self.use_scale:
                logits = logits / math.sqrt(self.inter_channels)
            mask = torch.matmul(logits.softmax(dim=-1), v).reshape(n, b, h, w).transpose(0, 1)  # (B, n, h, w)
            mask = F.interpolate(mask, scale_factor=scale_factor, mode=self.upsample_mode)
            return mask.softmax(dim=1)

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, inter_channels={self.inter_channels}, '
                f'upsample_mode={self.upsample_mode!r}, lam_concat={self.lam_concat}')
