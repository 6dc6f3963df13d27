"""SaliencyMix: Uddin et al., "SaliencyMix: A Saliency Guided Data Augmentation Strategy for Better
Regularization", ICLR 2021 (https://arxiv.org/abs/2006.01791)."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from openmix.registry import MIXERS

from .base import BaseMixer, MixedBatch, MixParams, keep_self_pairs
from .geometry import box_mask


def _reflect101_pad(x: torch.Tensor, p: int) -> torch.Tensor:
    return F.pad(x, (p, p, p, p), mode='reflect')  # torch 'reflect' = OpenCV BORDER_REFLECT_101


def spectral_residual_saliency(x: torch.Tensor, size: int = 64) -> torch.Tensor:
    """``(B, H, W)`` spectral-residual saliency (Hou & Zhang, CVPR 2007) of a batch ``(B, 3, H, W)``, batched.

    Follows OpenCV's ``StaticSaliencySpectralResidual`` step by step: grey ``cvtColor(BGR2GRAY)`` of the tensor as
    given (SaliencyMix passes RGB tensors, so channel 0 gets the blue weight 0.114), bilinear resize to 64 x 64,
    ``log(|F| + 1)`` minus its 3 x 3 box blur, back with the original phase, inverse DFT, magnitude, 5 x 5 Gaussian
    blur with sigma 8 (reflect-101 borders), squared, divided by its maximum, bilinear resize to ``(H, W)``.
    """
    h, w = x.shape[-2:]
    grey = (0.114 * x[:, 0] + 0.587 * x[:, 1] + 0.299 * x[:, 2]).double()[:, None]
    grey = F.interpolate(grey, size=(size, size), mode='bilinear', align_corners=False)[:, 0]
    spec = torch.fft.fft2(grey)
    log_amp = torch.log(spec.abs() + 1.0)
    blur = F.avg_pool2d(_reflect101_pad(log_amp[:, None], 1), 3, stride=1)[:, 0]
    phase = torch.angle(spec)
    sal = torch.fft.ifft2(torch.polar(torch.exp(log_amp - blur), phase)).abs() * (size * size)  # OpenCV: unscaled
    k = torch.exp(-(torch.arange(5, dtype=sal.dtype, device=sal.device) - 2) ** 2 / (2 * 8.0 ** 2))
    k = k / k.sum()
    sal = _reflect101_pad(sal[:, None], 2)
    sal = F.conv2d(F.conv2d(sal, k.view(1, 1, 1, 5)), k.view(1, 1, 5, 1))
    sal = sal ** 2
    sal = sal / sal.amax(dim=(2, 3), keepdim=True)
    return F.interpolate(sal.float(), size=(h, w), mode='bilinear', align_corners=False)[:, 0]


@MIXERS.register_module()
class SaliencyMix(BaseMixer):
    """Paste the partner's most salient box at the same place (paper Eq. 5-7, official ``saliency_bbox``).

    ``lam ~ Beta(alpha, alpha)``; the box has sides ``int(H * sqrt(1 - lam))`` x ``int(W * sqrt(1 - lam))``, halves
    ``side // 2`` each way around the argmax of the partner's saliency (quantised to uint8 as the official code does,
    first maximum in row-major order), clipped; ``lam = 1 - box area / (H * W)``. With ``per_sample=True`` (default)
    every sample gets the box of its own partner, computed batched on the device; ``per_sample=False`` is the
    official code: one box from the partner of sample 0 for the whole batch. Whole-batch method (data-dependent
    boxes): ``RandomMix`` accepts it in ``mode='batch'``.

    Args:
        alpha: Beta concentration.
        per_sample: One box per sample (True) or the official single box (False).
        prob, pairing, seed: See ``BaseMixer``.
    """

    name = 'saliencymix'
    uses_box = True
    supports_per_sample = False

    def __init__(self, alpha: float = 1.0, per_sample: bool = True, **kwargs) -> None:
        super().__init__(alpha=alpha, **kwargs)
        self.per_sample = per_sample

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        return MixParams(self.sample_lam(rng, n))

    def saliency_boxes(self, partners: torch.Tensor, lam: float) -> torch.Tensor:
        """``(B, 4)`` boxes ``(y_lo, y_hi, x_lo, x_hi)`` around each partner's saliency peak."""
        h, w = partners.shape[-2:]
        cut_h, cut_w = int(h * math.sqrt(1.0 - lam)), int(w * math.sqrt(1.0 - lam))
        sal = (spectral_residual_saliency(partners) * 255).to(torch.uint8)
        peak = sal.flatten(1).argmax(dim=1)
        r, c = peak // w, peak % w
        return torch.stack([(r - cut_h // 2).clamp(0, h), (r + cut_h // 2).clamp(0, h),
                            (c - cut_w // 2).clamp(0, w), (c + cut_w // 2).clamp(0, w)], 1)

    def mix_whole_batch_with(self, owner: BaseMixer, x: torch.Tensor, params: MixParams) -> MixedBatch:
        b = x.shape[0]
        lam0 = float(params.lam[0])
        if lam0 == 1.0:
            return self.unmixed(x)
        index = owner.partner_index(b, x.device)
        partners = x.index_select(0, index)
        box = self.saliency_boxes(partners if self.per_sample else partners[:1], lam0).expand(b, 4)
        mixed = torch.where(box_mask(box, x.shape[-2:]), partners, x)
        h, w = x.shape[-2:]
        lam = 1.0 - ((box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])).float() / (h * w)
        return MixedBatch(mixed, index, keep_self_pairs(lam, index), self.name, box=box,
                          is_box=torch.ones(b, dtype=torch.bool, device=x.device))

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, per_sample={self.per_sample}'
