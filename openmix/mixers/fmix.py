"""FMix: Harris et al., "FMix: Enhancing Mixed Sample Data Augmentation", arXiv 2002.12047 (2020)."""
from __future__ import annotations

import math

import numpy as np
import torch

from openmix.registry import MIXERS

from .base import BaseMixer, MixParams


def low_freq_images(n: int, seed: int, img_hw: tuple[int, int], decay_power: float,
                    device: torch.device | str = 'cpu') -> torch.Tensor:
    """``(n, H, W)`` grey images from random spectra with amplitude ``1 / max(f, 1 / max(H, W)) ** decay_power``
    (paper Sec. 3), rescaled to [0, 1]; one generator call and one batched FFT on ``device``."""
    h, w = img_hw
    fy = torch.fft.fftfreq(h, device=device, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(w, device=device, dtype=torch.float64)[None, :]
    freqs = torch.sqrt(fx ** 2 + fy ** 2)
    scale = 1.0 / torch.clamp(freqs, min=1.0 / max(h, w)) ** decay_power
    g = torch.Generator(device='cpu').manual_seed(int(seed))
    re_im = torch.randn((n, 2) + tuple(freqs.shape), generator=g, dtype=torch.float64).to(device)
    spectrum = torch.complex(re_im[:, 0], re_im[:, 1]) * scale
    grey = torch.fft.irfft2(spectrum, s=(h, w))
    grey = grey - grey.amin(dim=(1, 2), keepdim=True)
    return grey / grey.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)


def binarise(grey: torch.Tensor, num: torch.Tensor) -> torch.Tensor:
    """``(n, H, W)`` float mask, 1 on the ``num[i]`` brightest pixels of ``grey[i]`` (ties by position)."""
    n = grey.shape[0]
    flat = grey.reshape(n, -1)
    order = flat.argsort(dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order).scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand(n, -1))
    return (ranks < num.view(-1, 1)).to(grey.dtype).view_as(grey)


@MIXERS.register_module()
class FMix(BaseMixer):
    """Mix with a binary mask thresholded from low-frequency Fourier noise (paper Alg. 1, official ``fmix.py``).

    ``lam ~ Beta(alpha, alpha)``; the ``ceil`` or ``floor`` (coin flip) of ``lam * H * W`` brightest pixels of a
    random low-frequency image keep the sample, the rest come from the partner; the label weight is ``lam`` as
    drawn (the official code; it differs from the pixel share by less than one pixel). The grey image is made at
    the input size (OpenMixup's ``size``), FFTs and thresholds run batched on the device.

    Args:
        alpha: Beta concentration.
        decay_power: Spectral decay exponent (paper: 3).
        prob, pairing, seed: See ``BaseMixer``.
    """

    name = 'fmix'

    def __init__(self, alpha: float = 1.0, decay_power: float = 3.0, **kwargs) -> None:
        super().__init__(alpha=alpha, **kwargs)
        self.decay_power = float(decay_power)

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        h, w = int(img_hw[0]), int(img_hw[1])
        lam = self.sample_lam(rng, n)
        up = rng.random(n) > 0.5
        num = np.where(up, np.ceil(lam * h * w), np.floor(lam * h * w)).astype(np.int64)
        return MixParams(lam, extra=dict(num=num, seed=int(rng.integers(0, 2 ** 63 - 1))))

    def partner_weight(self, params: MixParams, x: torch.Tensor) -> torch.Tensor:
        grey = low_freq_images(len(params.lam), params.extra['seed'], x.shape[-2:], self.decay_power, x.device)
        keep = binarise(grey, torch.as_tensor(params.extra['num'], device=x.device))
        return (1.0 - keep)[:, None].to(x.dtype)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, decay_power={self.decay_power}'
