"""FMix: Harris et al., "FMix: Enhancing Mixed Sample Data Augmentation", arXiv 2002.12047 (2020)."""
from __future__ import annotations

import numpy as np
import torch

from openmix.registry import MIXERS

from .base import BaseMixer, MixParams

#: OpenMixup's ``_no_repeat_shuffle_idx``: redraws of a permutation that pairs a sample with itself
SELF_PAIR_REDRAWS = 10


def spectrum_width(w: int) -> int:
    """Columns of the spectrum noise: the official ``fftfreqnd`` keeps ``w // 2 + 2`` for odd ``w`` (one more than
    the ``irfft`` reads), ``w // 2 + 1`` for even ``w``."""
    return w // 2 + 1 + w % 2


def spectrum_noise(n: int, img_hw: tuple[int, int], seed: int, device: torch.device | str = 'cpu') -> torch.Tensor:
    """``(n, H, spectrum_width(W), 2)`` float64 standard normal noise (real, imaginary last), the layout of the
    official ``get_spectrum``'s ``np.random.randn``; drawn on the host from ``seed`` (one call), moved to ``device``."""
    g = torch.Generator(device='cpu').manual_seed(int(seed))
    h, w = int(img_hw[0]), int(img_hw[1])
    return torch.randn((n, h, spectrum_width(w), 2), generator=g, dtype=torch.float64).to(device)


def grey_images(noise: torch.Tensor, img_hw: tuple[int, int], decay_power: float,
                legacy_spectrum: bool = False) -> torch.Tensor:
    """``(n, H, W)`` grey images in [0, 1] from spectrum noise (paper Sec. 3), one batched inverse FFT.

    The spectrum is ``noise`` times the amplitude ``1 / max(f, 1 / max(H, W)) ** decay_power``, with ``f`` the
    frequency magnitude of each bin. By default bin ``(v, u)`` is ``noise[:, v, u, 0] + 1j * noise[:, v, u, 1]`` (the
    full 2-D spectrum). ``legacy_spectrum`` builds it as the official code does, ``spectrum[:, 0] + 1j *
    spectrum[:, 1]``, which indexes the row axis: a ``(spectrum_width(W), 2)`` array whose rows become the vertical
    bins and whose two columns the horizontal bins 0 and 1, so each row of the image is one cosine period plus a
    constant.

    Args:
        noise: ``(n, H, spectrum_width(W), 2)`` standard normal draws (see ``spectrum_noise``).
        img_hw: ``(H, W)`` of the image.
        decay_power: Spectral decay exponent (paper: 3).
        legacy_spectrum: Reproduce the official code's spectrum indexing.
    """
    h, w = int(img_hw[0]), int(img_hw[1])
    cols = spectrum_width(w)
    if noise.shape[1:] != (h, cols, 2):
        raise ValueError(f'FMix: noise for a {h}x{w} image must have shape (n, {h}, {cols}, 2), '
                         f'got {tuple(noise.shape)}')
    fy = torch.fft.fftfreq(h, device=noise.device, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(w, device=noise.device, dtype=torch.float64)[None, :cols]
    scale = torch.clamp(torch.sqrt(fx ** 2 + fy ** 2), min=1.0 / max(h, w)) ** -decay_power
    spec = noise * scale[..., None]
    if legacy_spectrum:
        grey = torch.fft.irfftn(torch.complex(spec[:, 0], spec[:, 1]), s=(h, w), dim=(-2, -1))
    else:
        grey = torch.fft.irfft2(torch.complex(spec[..., 0], spec[..., 1]), s=(h, w))
    grey = grey - grey.amin(dim=(1, 2), keepdim=True)
    return grey / grey.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)


def low_freq_images(n: int, seed: int, img_hw: tuple[int, int], decay_power: float,
                    device: torch.device | str = 'cpu', legacy_spectrum: bool = False) -> torch.Tensor:
    """``(n, H, W)`` grey images from ``spectrum_noise(n, img_hw, seed, device)`` (see ``grey_images``)."""
    return grey_images(spectrum_noise(n, img_hw, seed, device), img_hw, decay_power, legacy_spectrum)


def pixel_count(lam: np.ndarray, coin: np.ndarray, img_hw: tuple[int, int]) -> np.ndarray:
    """Pixels kept from the sample: ``ceil(lam * H * W)`` where ``coin > 0.5``, else the floor (official rule)."""
    area = lam * (int(img_hw[0]) * int(img_hw[1]))
    return np.where(coin > 0.5, np.ceil(area), np.floor(area)).astype(np.int64)


def binarise(grey: torch.Tensor, num: torch.Tensor) -> torch.Tensor:
    """``(n, H, W)`` float mask, 1 on the ``num[i]`` brightest pixels of ``grey[i]`` (ties by position)."""
    n = grey.shape[0]
    flat = grey.reshape(n, -1)
    order = flat.argsort(dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order).scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand(n, -1))
    return (ranks < num.view(-1, 1)).to(grey.dtype).view_as(grey)


def fmix_mask(noise: torch.Tensor, lam: np.ndarray, coin: np.ndarray, img_hw: tuple[int, int],
              decay_power: float = 3.0, legacy_spectrum: bool = False) -> torch.Tensor:
    """``(n, H, W)`` float mask, 1 where the sample is kept, from explicit random inputs (all on ``noise.device``).

    Args:
        noise: ``(n, H, spectrum_width(W), 2)`` spectrum noise.
        lam: ``(n,)`` mask means drawn from Beta(alpha, alpha).
        coin: ``(n,)`` uniform draws in [0, 1) choosing ceil (> 0.5) or floor of ``lam * H * W``.
        img_hw, decay_power, legacy_spectrum: See ``grey_images``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> keep = fmix_mask(torch.randn(2, 8, 5, 2, generator=g, dtype=torch.float64),
        ...                  np.array([0.3, 0.6]), np.array([0.2, 0.9]), (8, 8))
        >>> keep.sum(dim=(1, 2)).tolist()  # floor(0.3 * 64), ceil(0.6 * 64)
        [19.0, 39.0]
    """
    grey = grey_images(noise, img_hw, decay_power, legacy_spectrum)
    return binarise(grey, torch.as_tensor(pixel_count(lam, coin, img_hw), device=noise.device))


@MIXERS.register_module()
class FMix(BaseMixer):
    """Mix with a binary mask thresholded from low-frequency Fourier noise (Harris et al. 2020, Sec. 3).

    ``lam ~ Beta(alpha, alpha)``; a random complex spectrum with amplitude ``1 / f ** decay_power`` is inverted to
    a grey image, and its ``ceil`` or ``floor`` (coin flip) of ``lam * H * W`` brightest pixels keep the sample, the
    rest come from the partner. The label weight is ``lam`` as drawn (it differs from the kept share by less than
    one pixel). The mask is made at the input size; noise is drawn on the host in one call, the FFT and threshold run
    batched on the device. ``fmix_mask`` takes the random inputs explicitly.

    Args:
        alpha: Beta concentration (OpenMixup's CIFAR rows: 0.2).
        decay_power: Spectral decay exponent (paper: 3).
        legacy_spectrum: Build the spectrum as the official ``fmix.py`` (see below).
        redraw_self_pairs: With ``pairing='perm'``, redraw a permutation that pairs a sample with itself up to 10
            times and keep the last one, as OpenMixup's ``fmix``.
        prob, pairing, seed: See ``BaseMixer``.

    Example:
        >>> mixer = FMix(alpha=0.2, pairing='perm', legacy_spectrum=True, redraw_self_pairs=True, seed=0)
        >>> out = mixer(torch.randn(4, 3, 32, 32))
        >>> out.mask is None and out.inputs.shape == (4, 3, 32, 32)
        True

    Differences from the reference code:
        Reference: ``fmix.py`` of github.com/ecs-vlc/FMix and its copy ``openmixup/models/augments/fmix.py`` in
        github.com/Westlake-AI/openmixup (commits in ``tests/fixtures/reference/fmix.md``).

        - Spectrum (every draw): the reference builds its spectrum as ``spectrum[:, 0] + 1j * spectrum[:, 1]``,
          indexing the row axis, so its grey images contain horizontal frequencies 0 and 1 only (each mask row is
          one cyclic run of kept pixels); ours draws the full 2-D spectrum the paper describes. Fed the same
          noise, lam and coin at 32 x 32 (2,000 draws), the masks differ in 99.9 % of draws and in 32 % of their
          pixels on average at alpha 1 (86 % of draws, 13 % of pixels at alpha 0.2, where most masks are nearly
          empty or full), and 28 % of our masks have a row with more than one run (none of the reference's).
          ``legacy_spectrum=True`` restores the reference masks: as the official code (tests compare with
          recorded official output at 8x8, 16x12, 12x15, 8x32 and 32x32: masks equal, grey images to 1e-12).
        - Self-pairs (OpenMixup only): with a plain random permutation (``pairing='perm'``) 63 % of batches of
          100 have at least one sample paired with itself, which then stays unmixed; OpenMixup redraws such a
          permutation (its ``_no_repeat_shuffle_idx``, at most 10 redraws, leaving 0.6 % of batches with one).
          ``redraw_self_pairs=True`` restores that rule, on our generator. The official ``fmix.py`` does not redraw.
        - Random streams: the reference draws lam with ``scipy.stats.beta``, the noise with ``np.random.randn``,
          the coin with ``random.random`` and the permutation with ``torch.randperm``; ours draws all from the
          mixer's NumPy generator (the noise from a torch generator seeded by it). Same distributions, not the same
          numbers for a given seed; no flag (tests feed the recorded draws through ``fmix_mask``).
        - ``size``: OpenMixup makes the mask at its ``size`` argument (``(32, 32)`` in its CIFAR configs) and
          broadcasts it over the batch, which only works when it equals the input size; ours always uses the input
          size, which is the same thing for every config that runs.
        - ``max_soft`` and ``reformulate`` (0 and False in every OpenMixup config) are not implemented; lam is
          always the drawn lam, as the reference with its default ``lam=None``.
        - Ties in the grey image: the reference keeps the last of tied pixels (reversed ``argsort``), ours the
          first; no tie occurred in 10,000 draws at 32 x 32.
    """

    name = 'fmix'

    def __init__(self, alpha: float = 1.0, decay_power: float = 3.0, legacy_spectrum: bool = False,
                 redraw_self_pairs: bool = False, **kwargs) -> None:
        super().__init__(alpha=alpha, **kwargs)
        if redraw_self_pairs and self.pairing != 'perm':
            raise ValueError("FMix: redraw_self_pairs needs pairing='perm' (OpenMixup's random permutation)")
        self.decay_power = float(decay_power)
        self.legacy_spectrum = bool(legacy_spectrum)
        self.redraw_self_pairs = bool(redraw_self_pairs)

    def partner_index(self, batch_size: int, device: torch.device) -> torch.Tensor:
        if not self.redraw_self_pairs:
            return super().partner_index(batch_size, device)
        index = self.rng.permutation(batch_size)
        for _ in range(SELF_PAIR_REDRAWS):  # OpenMixup keeps the last redraw unchecked
            if not (index == np.arange(batch_size)).any():
                break
            index = self.rng.permutation(batch_size)
        return torch.from_numpy(index).to(device, non_blocking=True)

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        lam = self.sample_lam(rng, n)
        coin = rng.random(n)
        return MixParams(lam, extra=dict(num=pixel_count(lam, coin, img_hw), coin=coin,
                                         seed=int(rng.integers(0, 2 ** 63 - 1))))

    def partner_weight(self, params: MixParams, x: torch.Tensor) -> torch.Tensor:
        img_hw = tuple(x.shape[-2:])
        noise = spectrum_noise(len(params.lam), img_hw, params.extra['seed'], x.device)
        keep = fmix_mask(noise, params.lam, params.extra['coin'], img_hw, self.decay_power, self.legacy_spectrum)
        return (1.0 - keep)[:, None].to(x.dtype)

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, decay_power={self.decay_power}, legacy_spectrum={self.legacy_spectrum}, '
                f'redraw_self_pairs={self.redraw_self_pairs}')
