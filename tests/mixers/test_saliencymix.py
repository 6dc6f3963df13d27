"""SaliencyMix: spectral-residual saliency against an independent NumPy implementation; box and lam rules."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from openmix.mixers import RandomMix, SaliencyMix
from openmix.mixers.saliencymix import spectral_residual_saliency


def _numpy_sr(img: np.ndarray) -> np.ndarray:
    """OpenCV's StaticSaliencySpectralResidual for a 64x64 input (no resizing needed), written with NumPy."""
    grey = 0.114 * img[0] + 0.587 * img[1] + 0.299 * img[2]
    spec = np.fft.fft2(grey)
    log_amp = np.log(np.abs(spec) + 1)
    padded = np.pad(log_amp, 1, mode='reflect')
    blur = sum(padded[i:i + 64, j:j + 64] for i in range(3) for j in range(3)) / 9
    sal = np.abs(np.fft.ifft2(np.exp(log_amp - blur) * np.exp(1j * np.angle(spec)))) * 64 * 64
    k = np.exp(-(np.arange(5) - 2) ** 2 / 128.0)
    k /= k.sum()
    padded = np.pad(sal, 2, mode='reflect')
    rows = sum(k[i] * padded[i:i + 64, :] for i in range(5))
    sal = sum(k[j] * rows[:, j:j + 64] for j in range(5))
    sal = sal ** 2
    return sal / sal.max()


def test_saliency_matches_numpy_reference():
    x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    x[1, :, 20:30, 40:50] += 3  # a bright patch is salient
    ours = spectral_residual_saliency(x)
    for i in range(3):
        np.testing.assert_allclose(ours[i].numpy(), _numpy_sr(x[i].double().numpy()), atol=1e-5)
    peak = int(ours[1].argmax())
    assert 15 <= peak // 64 <= 35 and 35 <= peak % 64 <= 55


def test_saliency_resize_matches_opencv_when_available():
    cv2 = pytest.importorskip('cv2')
    img = np.random.default_rng(0).random((3, 48, 80)).astype(np.float32)
    ours = spectral_residual_saliency(torch.from_numpy(img)[None])[0].numpy()
    assert ours.shape == (48, 80)
    # the resizes are OpenCV's INTER_LINEAR_EXACT up to float rounding
    grey = (0.114 * img[0] + 0.587 * img[1] + 0.299 * img[2]).astype(np.float64)
    small = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_LINEAR_EXACT)
    ref = cv2.resize(_numpy_sr(np.stack([np.zeros_like(small), small / 0.587, np.zeros_like(small)])).astype(np.float32),
                     (80, 48), interpolation=cv2.INTER_LINEAR_EXACT)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_boxes_sit_on_each_partners_peak_and_lam_is_the_area():
    x = torch.zeros(4, 3, 32, 32)
    centres = [(5, 6), (20, 25), (12, 12), (28, 3)]
    for i, (r, c) in enumerate(centres):
        x[i, :, r, c] = 50.0
    m = SaliencyMix(alpha=1.0, seed=0)
    params = m.draw(m.rng, 1, (32, 32))
    lam0 = float(params.lam[0])
    out = m.mix_whole_batch(x.clone(), params)
    cut = int(32 * math.sqrt(1 - lam0))
    sal = (spectral_residual_saliency(x.flip(0)) * 255).to(torch.uint8).flatten(1).argmax(1)
    for i in range(4):
        r, c = int(sal[i]) // 32, int(sal[i]) % 32
        expected = [max(r - cut // 2, 0), min(r + cut // 2, 32), max(c - cut // 2, 0), min(c + cut // 2, 32)]
        assert out.box[i].tolist() == expected
        y0, y1, x0, x1 = expected
        assert out.lam[i].item() == pytest.approx(1 - (y1 - y0) * (x1 - x0) / 1024)
        assert torch.equal(out.inputs[i, :, y0:y1, x0:x1], x[3 - i, :, y0:y1, x0:x1])
    # the partner's peak pixel lands in the mixed image when the box is not empty
    assert out.is_box.all()
    single = SaliencyMix(alpha=1.0, per_sample=False, seed=0).mix_whole_batch(x.clone(), params)
    assert (single.box == single.box[0]).all()
    with pytest.raises(ValueError, match="SaliencyMix mix whole batches only"):
        RandomMix([dict(type='SaliencyMix'), dict(type='Mixup')], mode='elem')
