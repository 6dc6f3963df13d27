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


# Center-surround half-widths of OpenCV's StaticSaliencyFineGrained (3 * 4 and 7 * 4 pixels, each doubled twice).
FINE_GRAINED_SCALES = (12, 24, 48, 28, 56, 112)


def _blur3(g: torch.Tensor) -> torch.Tensor:
    """OpenCV ``GaussianBlur(ksize=3, sigma=0)`` of float32 ``(B, H, W)``: kernel (1/4, 1/2, 1/4), rows then
    columns, each tap pair summed before scaling (OpenCV's symmetric-kernel order, bit-exact in float32)."""
    p = F.pad(g[:, None], (1, 1, 0, 0), mode='reflect')[:, 0]
    g = (p[..., :-2] + p[..., 2:]) * 0.25 + p[..., 1:-1] * 0.5
    p = F.pad(g[:, None], (0, 0, 1, 1), mode='reflect')[:, 0]
    return (p[:, :-2] + p[:, 2:]) * 0.25 + p[:, 1:-1] * 0.5


def _to_uchar(v: torch.Tensor) -> torch.Tensor:
    """C's ``(uchar)`` of a non-negative float as compiled for x86-64: truncate to int32, keep the low byte
    (values of 256 and more wrap, NaN becomes 0)."""
    return torch.nan_to_num(v, nan=-2.0 ** 31).trunc().clamp(-2.0 ** 31, 2.0 ** 31 - 1).to(torch.int64) & 255


def fine_grained_saliency(x: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)`` uint8 fine-grained saliency (Montabone & Soto, Image Vis. Comput. 28(3), 2010) of a float batch
    ``(B, 3, H, W)``, batched on ``x.device``, the way OpenCV contrib's ``StaticSaliencyFineGrained`` computes it for
    a float32 image given as is (SaliencyMix passes the normalised tensor, channels in RGB order).

    Steps, each as OpenCV does them:

    1. grey ``cvtColor(BGR2GRAY)`` in float32: channel 0 gets the blue weight 0.114 (the tensor is RGB), summed as
       ``fma(c2, .299, fma(c0, .114, c1 * .587))``;
    2. two 3 x 3 Gaussian blurs (sigma 0, reflect-101 borders), then the float32 integral image;
    3. the centre value of each pixel is read as ``uchar`` from the float image's memory: OpenCV's code reads
       ``gray.at<uchar>(y, x)``, which on a float32 image is byte ``x % 4`` (little-endian) of float ``x // 4`` of
       row ``y``. The map therefore depends on the mantissa bytes of the blurred grey values, not on their size;
    4. for each half-width ``n`` in ``FINE_GRAINED_SCALES``: surround mean over the window ``[x - n + 1, x + n]``
       clipped to the image, without the centre byte, ``(S - c) / (area - 1)``; on = ``c - mean``, off =
       ``mean - c``, each truncated to uchar where positive;
    5. on and off summed over the scales, each scaled to ``255 * sum / max(sum)`` (per image), then
       ``255 * (on + off) / max(max on, max off)``, truncated to uchar (values over 255 wrap, as x86 code does).

    Every float32 operation follows OpenCV's order except the integral image (a cumulative sum here, rounded
    differently from OpenCV's running sum), so a pixel may come out one level off where a truncation sits on a
    rounding boundary: 2 of 2.4 million pixels at 224 px, none at 32 px (see the SaliencyMix docstring). OpenCV
    returns this map divided by 255 as float32; the official ``(map * 255).astype('uint8')`` gives back every level
    unchanged, so this uint8 map is what the official box rule reads.
    """
    if not x.is_floating_point():
        raise TypeError(f'fine_grained_saliency expects a float batch as SaliencyMix passes it, got {x.dtype}')
    b, _, h, w = x.shape
    x = x.float()
    # fused multiply-adds emulated in float64: a product of two float32 values is exact there
    c = torch.tensor([0.114, 0.587, 0.299], dtype=torch.float32, device=x.device).double()
    g = (x[:, 1].double() * c[1]).float()
    g = (g.double() + x[:, 0].double() * c[0]).float()
    g = (g.double() + x[:, 2].double() * c[2]).float()
    g = _blur3(_blur3(g)).contiguous()
    centre = g.view(torch.uint8)[..., :w].to(torch.float32)  # (B, H, W) bytes of the first W/4 floats of each row
    integral = F.pad(g.cumsum(2).cumsum(1), (1, 0, 1, 0))  # (B, H + 1, W + 1)
    on_sum = torch.zeros(b, h, w, dtype=torch.int64, device=x.device)
    off_sum = torch.zeros_like(on_sum)
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    for n in FINE_GRAINED_SCALES:
        y1, y2 = (ys - n + 1).clamp(0, h), (ys + n + 1).clamp(0, h)
        x1, x2 = (xs - n + 1).clamp(0, w), (xs + n + 1).clamp(0, w)
        rows1, rows2 = integral.index_select(1, y1), integral.index_select(1, y2)
        s = rows2.index_select(2, x2) + rows1.index_select(2, x1)  # OpenCV's order: (D + A) - B - C
        s = s - rows2.index_select(2, x1) - rows1.index_select(2, x2)
        area = ((y2 - y1)[:, None] * (x2 - x1)[None, :] - 1).to(torch.float32)
        mean = (s - centre) / area
        on, off = centre - mean, mean - centre
        on_sum += torch.where(on > 0, _to_uchar(on), 0)
        off_sum += torch.where(off > 0, _to_uchar(off), 0)

    def scaled(v: torch.Tensor) -> torch.Tensor:  # (uchar)(255. * (float)(v / (float)max))
        ratio = v.float() / v.amax(dim=(1, 2), keepdim=True).float()
        return _to_uchar(255.0 * ratio.double())

    on, off = scaled(on_sum), scaled(off_sum)
    top = torch.maximum(on.amax(dim=(1, 2), keepdim=True), off.amax(dim=(1, 2), keepdim=True))
    return _to_uchar(255.0 * (on + off).double() / top.double()).to(torch.uint8)


DETECTORS = ('fine_grained', 'spectral_residual')


@MIXERS.register_module()
class SaliencyMix(BaseMixer):
    """Paste the partner's most salient box at the same place.

    Uddin et al., "SaliencyMix: A Saliency Guided Data Augmentation Strategy for Better Regularization", ICLR 2021
    (https://arxiv.org/abs/2006.01791); official code https://github.com/afm-shahab-uddin/SaliencyMix
    (``saliency_bbox``), copied by OpenMixup. Paper Sec. 3.2: ``lam ~ Beta(alpha, alpha)``; the partner's
    (source's) saliency map ``I_vs = f(I_s)``; its peak ``i, j = argmax(I_vs)``, taken as the first maximum in
    row-major order of the uint8 map; a box of sides ``int(H * sqrt(1 - lam))`` x ``int(W * sqrt(1 - lam))``
    reaching ``side // 2`` each way from the peak, clipped to the image; the mix
    ``I_a = M * I_s + (1 - M) * I_t`` pastes the partner's box at the same place, and the label weight is
    ``lam = 1 - box area / (H * W)`` (``y_a = lam * y_t + (1 - lam) * y_s``).

    The detector (``detector='fine_grained'``, the official one) is OpenCV contrib's ``StaticSaliencyFineGrained``
    (Montabone & Soto, "Human detection using a mobile platform and novel features derived from a visual saliency
    mechanism", Image and Vision Computing 28(3), 2010), reimplemented batched on the device in
    ``fine_grained_saliency``. Like the official code it is fed the normalised float tensor as given, on which
    OpenCV reads the centre pixel's bytes rather than its value (see ``fine_grained_saliency``): the peak then
    follows the mantissa bytes of the blurred grey image. ``detector='spectral_residual'`` is Hou & Zhang's
    spectral residual (``spectral_residual_saliency``), which an earlier openmix used.

    Whole-batch method (data-dependent boxes): ``RandomMix`` accepts it in ``mode='batch'``.

    Args:
        alpha: Beta concentration.
        per_sample: One box per sample, around its own partner's peak (True), or the official single box from the
            partner of sample 0 for the whole batch (False).
        detector: ``'fine_grained'`` or ``'spectral_residual'``.
        prob, pairing, seed: See ``BaseMixer``.

    Example:
        >>> mixer = SaliencyMix(alpha=0.2, per_sample=False, pairing='perm')
        >>> out = mixer(x)  # x: (B, 3, H, W) normalised float; out.box: (B, 4) (y_lo, y_hi, x_lo, x_hi)

    Differences from the reference code:
        - ``per_sample=True`` (the default) gives each sample the box of its own partner; the official code uses
          the box of sample 0's partner for the whole batch. Measured at 32 px (batches of 100, alpha 0.2,
          ``pairing='perm'``): 98.7 % of samples get a box other than the official one. ``per_sample=False``
          restores the reference; its boxes equal the official ``saliency_bbox`` boxes recorded in
          ``tests/fixtures/reference/saliencymix_fine_grained.npz``.
        - ``detector='fine_grained'`` equals OpenCV contrib 5.0's ``StaticSaliencyFineGrained`` on the recorded
          maps and on random images: 0 pixels differ at 32 px (32 random normal and 10 normalised structured
          images) and at 64 x 96 / 17 x 40; at 224 px 2 of 2.4 million pixels (48 structured images) are one
          level off, from the integral image's float32 rounding; the peak agreed in every image measured. No
          flag: OpenCV itself is the reference. The emulation of OpenCV's ``(uchar)`` casts (wrapping above 255)
          is the behaviour of x86-64 builds, on which the reference was recorded.
        - The fine-grained peak follows the low bytes of the normalised floats, so it depends on how the batch
          was normalised, not only on the image: the same uint8 images normalised as ``(x - 255 m) / (255 s)``
          (our data preprocessor) or as ``(x / 255 - m) / s`` (torchvision's ``ToTensor`` + ``Normalize``, the
          official CIFAR script) give different peaks for 14 % of images (500 images, 32 px). OpenMixup, whose
          row ``configs/mixups/c100_r18_800e_saliencymix.py`` reproduces, normalises in its GPU prefetcher as
          ``(x - 255 m) / (255 s)`` in float32 with the same float32 constants as that config, so the bytes (and
          peaks) are the same as OpenMixup's. The official script's torchvision order has no flag.
        - ``detector='spectral_residual'`` is not the reference: its peak agreed with the fine-grained one for 0 of
          500 normalised 32 px images; ``detector='fine_grained'`` (the default) is.
        - The partner permutation comes from ``pairing`` (``'perm'``: a random permutation, as the official
          code's ``torch.randperm``) and our own generators, so the drawn partners and lam differ draw by draw from the reference's RNG
          stream; the rule is the same. The official code mixes with probability ``salmix_prob = 0.5``
          (OpenMixup: always); set ``prob`` accordingly.
    """

    name = 'saliencymix'
    uses_box = True
    supports_per_sample = False

    def __init__(self, alpha: float = 1.0, per_sample: bool = True, detector: str = 'fine_grained', **kwargs) -> None:
        super().__init__(alpha=alpha, **kwargs)
        if detector not in DETECTORS:
            raise ValueError(f'SaliencyMix: detector must be one of {DETECTORS}, got {detector!r}')
        self.per_sample = per_sample
        self.detector = detector

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        return MixParams(self.sample_lam(rng, n))

    def saliency(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W)`` uint8 saliency of ``x`` as the box rule reads it."""
        if self.detector == 'fine_grained':
            return fine_grained_saliency(x)
        return (spectral_residual_saliency(x) * 255).to(torch.uint8)

    def saliency_boxes(self, partners: torch.Tensor, lam: float) -> torch.Tensor:
        """``(B, 4)`` boxes ``(y_lo, y_hi, x_lo, x_hi)`` around each partner's saliency peak."""
        h, w = partners.shape[-2:]
        cut_h, cut_w = int(h * math.sqrt(1.0 - lam)), int(w * math.sqrt(1.0 - lam))
        peak = self.saliency(partners).flatten(1).argmax(dim=1)  # first maximum, as np.argmax
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
        return f'{super().extra_repr()}, per_sample={self.per_sample}, detector={self.detector!r}'
