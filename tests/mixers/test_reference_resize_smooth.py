"""ResizeMix, SmoothMix (OpenMixup), ManifoldMix and PuzzleMix transport (official code) against recorded output.

The fixtures (``tests/fixtures/reference/{resizemix,smoothmix,manifoldmix,puzzlemix_transport}.{npz,md}``) hold the
reference's mixed images (or hidden states), labels and lam for seeded inputs, with the random draws the reference
function made (replayed from the same seeds). Our mixer gets those draws through a stub generator, in the order it draws
them, so the comparison covers geometry, pairing, mixing and lam; only the random streams differ (ours: the mixer's own
generator, OpenMixup's: the global RNGs).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from openmix.mixers import ManifoldMix, ResizeMix, SmoothMix

FIXTURES = Path(__file__).resolve().parents[1] / 'fixtures' / 'reference'


class ReplayRng:
    """Stands in for the mixer's ``np.random.Generator``: returns queued values per method, in call order."""

    def __init__(self, **queues) -> None:
        self.queues = {k: list(v) for k, v in queues.items()}

    def _next(self, name: str, n=None):
        value = self.queues[name].pop(0)
        return value if n is None else np.full(n, value)

    def random(self):
        return self._next('random')

    def uniform(self, lo, hi, n=None):
        return self._next('uniform', n)

    def beta(self, a, b, n=None, size=None):
        return self._next('beta', n if size is None else size)

    def integers(self, lo, hi=None, n=None):
        return self._next('integers', n)

    def permutation(self, n):
        return self._next('permutation')


def _cases(data, prefix='c'):
    return sorted({k.split('_')[0] for k in data.files if k.startswith(prefix)})


# ------------------------------------------------------------------------------------------------------- ResizeMix

RESIZE = np.load(FIXTURES / 'resizemix.npz')


@pytest.mark.parametrize('case', _cases(RESIZE))
def test_resizemix_equals_openmixup(case):
    d = {k[len(case) + 1:]: RESIZE[k] for k in RESIZE.files if k.startswith(case + '_')}
    img = torch.from_numpy(d['img']).float()
    mode = str(d['mode'])
    m = ResizeMix(pairing='perm', interpolation=mode, seed=0)
    # OpenMixup draws the centre of the last axis first (its `W = size[2]` names are swapped), we draw rows first
    m.rng = ReplayRng(random=[0.0], uniform=[float(d['tau'])], integers=[int(d['k2']), int(d['k1'])],
                      permutation=[d['perm']])
    out = m(img.clone())
    assert out.mode == 'resizemix' and torch.equal(out.index, torch.from_numpy(d['perm']))
    expected = torch.from_numpy(d['mixed']).float()
    if mode == 'nearest':
        assert torch.equal(out.inputs, expected)
    else:
        torch.testing.assert_close(out.inputs, expected, rtol=0, atol=1e-4)
    # lam: OpenMixup's scalar for every pair; ours the same except lam = 1 for a sample paired with itself
    self_pair = out.index == torch.arange(img.shape[0])
    assert out.lam[~self_pair].tolist() == [float(d['lam'])] * int((~self_pair).sum())
    assert (out.lam[self_pair] == 1).all()


def test_resizemix_use_alpha_keeps_an_in_scope_beta_draw_and_redraws_outside():
    m = ResizeMix(use_alpha=True, alpha=1.0, seed=0)
    inside = m.draw(ReplayRng(beta=[0.5], uniform=[0.3], integers=[16, 16]), 1, (32, 32))
    outside = m.draw(ReplayRng(beta=[0.95], uniform=[0.3], integers=[16, 16]), 1, (32, 32))
    assert inside.lam[0] == 1 - 16 * 16 / 1024 and outside.lam[0] == 1 - 8 * 8 / 1024


# ------------------------------------------------------------------------------------------------------- SmoothMix

SMOOTH = np.load(FIXTURES / 'smoothmix.npz')


@pytest.mark.parametrize('legacy_lam', [True, False])
@pytest.mark.parametrize('case', _cases(SMOOTH))
def test_smoothmix_equals_openmixup(case, legacy_lam):
    d = {k[len(case) + 1:]: SMOOTH[k] for k in SMOOTH.files if k.startswith(case + '_')}
    img = torch.from_numpy(d['img']).float()
    b, _, h, w = img.shape
    m = SmoothMix(pairing='perm', legacy_lam=legacy_lam, seed=0)
    # OpenMixup: torch.randint over W (its column centre) first, then over H (rows), sigma = (rand / 4 + 0.25) * H
    m.rng = ReplayRng(random=[0.0], integers=[int(d['k_h']), int(d['k_w'])], uniform=[float(d['u'])],
                      permutation=[d['perm']])
    out = m(img.clone())
    assert torch.equal(out.index, torch.from_numpy(d['perm']))
    params = m.draw(ReplayRng(integers=[int(d['k_h']), int(d['k_w'])], uniform=[float(d['u'])]), 1, (h, w))
    kernel = m.partner_weight(params, img)[0, 0]
    torch.testing.assert_close(kernel, torch.from_numpy(d['kernel']), rtol=0, atol=1e-6)  # float32 vs float64 grid
    if 'mixed' in d:
        torch.testing.assert_close(out.inputs, torch.from_numpy(d['mixed']), rtol=0, atol=2e-4)  # 0..255 pixels
    ref_lam = float(d['lam'])  # OpenMixup: the unshuffled sample's label weight = mean(kernel), the partner's share
    self_pair = out.index == torch.arange(b)
    expected = ref_lam if legacy_lam else 1.0 - ref_lam
    torch.testing.assert_close(out.lam[~self_pair], torch.full(((~self_pair).sum(),), expected), rtol=0, atol=1e-6)
    assert (out.lam[self_pair] == 1).all()


def test_smoothmix_default_lam_is_one_minus_the_reference_lam():
    """The deviation the ``legacy_lam`` flag restores: how far the two label weights are apart at 32 px."""
    ref, ours = SmoothMix(legacy_lam=True, seed=5), SmoothMix(seed=5)
    a, b = ref.draw(ref.rng, 4000, (32, 32)).lam, ours.draw(ours.rng, 4000, (32, 32)).lam
    np.testing.assert_allclose(a, 1.0 - b, atol=1e-12)
    gap = np.abs(a - b)
    assert 0.0 < gap.min() and gap.mean() > 0.1  # every draw changes the label (mean |2 mean(G) - 1| about 0.2)


# ----------------------------------------------------------------------------------------------------- ManifoldMix

MANIFOLD = np.load(FIXTURES / 'manifoldmix.npz')


class TwoStages(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer1, self.layer2 = nn.Identity(), nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer2(self.layer1(x))


@pytest.mark.parametrize('layer', [0, 1, 2])
@pytest.mark.parametrize('case', _cases(MANIFOLD))
def test_manifoldmix_equals_official_mixup_process(case, layer):
    """The hidden state after the chosen layer and the label equal the official ``mixup_process`` output."""
    d = {k[len(case) + 1:]: MANIFOLD[k] for k in MANIFOLD.files if k.startswith(case + '_')}
    h = torch.from_numpy(d['h'])
    holder = nn.Module()
    holder.backbone = TwoStages()
    m = ManifoldMix(seed=0)
    m.attach(holder)
    assert m.choices == [None, 'layer1', 'layer2']  # default (0, 1, 2): input, after layer1, after layer2
    m.rng = ReplayRng(random=[0.0], beta=[float(d['lam'])], permutation=[d['perm']], integers=[layer])
    out = m(h.clone())
    mixed = holder.backbone(out.inputs)
    torch.testing.assert_close(mixed, torch.from_numpy(d['mixed']), rtol=0, atol=1e-6)
    b = h.shape[0]
    y = F.one_hot(torch.arange(b) % 3, 3).float()
    target = out.lam[:, None] * y + (1 - out.lam[:, None]) * y[out.index]  # the classifier's area label
    torch.testing.assert_close(target, torch.from_numpy(d['target']), rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------------------- PuzzleMix

TRANSPORT = np.load(FIXTURES / 'puzzlemix_transport.npz')


@pytest.mark.parametrize('case', _cases(TRANSPORT))
def test_puzzlemix_transport_equals_official(case):
    """``mask_transport`` + ``transport_blocks`` equal the official ``mask_transport`` + ``transport_image``."""
    from openmix.mixers.puzzlemix import mask_transport, transport_blocks
    d = {k[len(case) + 1:]: TRANSPORT[k] for k in TRANSPORT.files if k.startswith(case + '_')}
    mask = torch.from_numpy(d['mask2']).float() / 2
    plan = mask_transport(mask, torch.from_numpy(d['sal']), 0.8)
    assert torch.equal(plan, torch.from_numpy(d['plan']).float())
    moved = transport_blocks(torch.from_numpy(d['img']).float(), plan, mask.shape[-1])
    assert torch.equal(moved, torch.from_numpy(d['moved']).float())
