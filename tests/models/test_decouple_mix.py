"""DecoupledMixCrossEntropy against recorded OpenMixup output, and its invariants."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from openmix.mixers.geometry import mix_target, smooth_one_hot
from openmix.models.losses import DecoupledMixCrossEntropy, SoftTargetCrossEntropy

FIXTURE = Path(__file__).resolve().parents[1] / 'fixtures' / 'reference' / 'decouplemix.npz'
MODES, SCALES = ('both', 'less', 'more'), ('none', 'pow', 'exp')


def _loss(setting: np.ndarray) -> DecoupledMixCrossEntropy:
    eta, mode, thr, scale, lam_thr, lam_idx = setting
    return DecoupledMixCrossEntropy(eta=float(eta), mode=MODES[int(mode)], thr=float(thr),
                                    lam_scale_mode=SCALES[int(scale)], lam_thr=float(lam_thr), lam_idx=float(lam_idx))


def _reference_pairing_agrees(y_a0: int, y_b0: int) -> bool:
    """OpenMixup pairs its eta list [w(lam), w(1 - lam)] with row 0's mixed classes in class-index order."""
    return y_a0 < y_b0


def test_equals_openmixup_soft_mix_cross_entropy():
    ref = np.load(FIXTURE)
    worst, swapped_checked = 0.0, 0
    for i in range(int(ref['n_cases'])):
        p = f'c{i:02d}_'
        logits = torch.from_numpy(ref[p + 'logits'])
        target = torch.from_numpy(ref[p + 'target'])
        loss_fn = _loss(ref['settings'][int(ref[p + 'setting'])])
        ours = loss_fn(logits.double(), target.double()).double()
        expected = float(ref[p + 'loss'])
        if _reference_pairing_agrees(int(ref[p + 'y_a'][0]), int(ref[p + 'y_b'][0])) or float(ref[p + 'lam']) == 0.5:
            worst = max(worst, abs(float(ours) - expected))
            assert float(ours) == pytest.approx(expected, rel=1e-6, abs=1e-6), i
        else:
            # OpenMixup swaps the two eta weights in these batches: recompute ours' decoupled part with them swapped
            y_a, y_b = torch.from_numpy(ref[p + 'y_a']), torch.from_numpy(ref[p + 'y_b'])
            w_a, w_b = ref[p + 'eta_weight']  # the reference's list, meant for y_a and y_b
            z = logits.double()
            mixed = target > 1e-3
            lse_out = torch.logsumexp(z.masked_fill(mixed, float('-inf')), -1)

            def term(y):
                z_y = z.gather(1, y[:, None])[:, 0]
                return torch.logaddexp(lse_out, z_y) - z_y
            rows = y_a != y_b
            ce = torch.sum(-target * F.log_softmax(z, -1), -1)
            swapped = (ce + rows * (w_b * term(y_a) + w_a * term(y_b))).mean()
            assert float(swapped) == pytest.approx(expected, rel=1e-6, abs=1e-6), i
            swapped_checked += 1
    assert swapped_checked >= 10
    assert worst < 1e-5, worst


def test_eta_zero_is_soft_ce_and_unmixed_rows_are_ce():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 10, generator=g)
    y = torch.randint(0, 10, (6,), generator=g)
    t = mix_target(smooth_one_hot(y, 10, 0.0), torch.randperm(6, generator=g), torch.full((6,), 0.3))
    assert torch.allclose(DecoupledMixCrossEntropy(eta=0.0)(logits, t), SoftTargetCrossEntropy()(logits, t))
    one_hot = smooth_one_hot(y, 10, 0.1)  # unmixed, smoothed: no decoupled term
    assert torch.allclose(DecoupledMixCrossEntropy(eta=1.0)(logits, one_hot), SoftTargetCrossEntropy()(logits, one_hot))


def test_label_smoothing_is_undone_and_the_term_is_the_decoupled_softmax():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 7, generator=g)
    y_a, y_b = torch.tensor([0, 1, 2, 3]), torch.tensor([4, 5, 6, 0])
    lam = 0.3
    for eps in (0.0, 0.1):
        t = lam * smooth_one_hot(y_a, 7, eps) + (1 - lam) * smooth_one_hot(y_b, 7, eps)
        loss = DecoupledMixCrossEntropy(eta=0.5, mode='both', lam_scale_mode='pow', lam_idx=1.0)
        lam_c, eta = loss.class_weights(t)
        assert torch.allclose(lam_c.gather(1, y_a[:, None]), torch.full((4, 1), lam), atol=1e-6)
        # phi_a leaves y_b out of the normaliser (Eq. 6)
        keep_a = torch.ones(4, 7, dtype=torch.bool).scatter(1, y_b[:, None], False)
        keep_b = torch.ones(4, 7, dtype=torch.bool).scatter(1, y_a[:, None], False)
        ls_a = F.log_softmax(logits.masked_fill(~keep_a, float('-inf')), -1).gather(1, y_a[:, None])[:, 0]
        ls_b = F.log_softmax(logits.masked_fill(~keep_b, float('-inf')), -1).gather(1, y_b[:, None])[:, 0]
        expected = SoftTargetCrossEntropy()(logits, t) - (0.5 * lam * ls_a + 0.5 * (1 - lam) * ls_b).mean()
        assert torch.allclose(loss(logits, t), expected, atol=1e-5)


def test_less_mode_regularises_the_minority_and_gradients_flow():
    logits = torch.randn(3, 5, requires_grad=True)
    t = torch.zeros(3, 5)
    t[:, 0], t[:, 1] = 0.2, 0.8
    _, eta = DecoupledMixCrossEntropy(eta=0.1, mode='less', lam_idx=0.5).class_weights(t)
    assert torch.allclose(eta[:, 0], torch.full((3,), 0.1 * 0.2 ** 0.5)) and (eta[:, 1:] == 0).all()
    DecoupledMixCrossEntropy()(logits, t).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_refuses_bad_settings():
    with pytest.raises(ValueError, match='mode'):
        DecoupledMixCrossEntropy(mode='lesser')
    with pytest.raises(ValueError, match='lam_scale_mode'):
        DecoupledMixCrossEntropy(lam_scale_mode='log')
