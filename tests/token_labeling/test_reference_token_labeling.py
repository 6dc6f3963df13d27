"""Token Labeling against recorded output of the official code (github.com/zihangJiang/TokenLabeling; fixture and its
recording script: tests/fixtures/reference/token_labeling_targets.md): label-map crop -> token targets with both box
orders, teacher-target smoothing with both formulas, the loss, MixToken boxes, and the paper-row configs' flags."""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from openmix.token_labeling import TokenLabelClassifier, TokenLabelLoss, mixtoken_box, token_targets

ROOT = Path(__file__).resolve().parents[2]
REF = np.load(ROOT / 'tests/fixtures/reference/token_labeling_targets.npz')
K, GRID = 10, (3, 3)


def _ours(eps: float, legacy_box_order: bool, legacy_smoothing: bool):
    return token_targets(torch.from_numpy(REF['values']), torch.from_numpy(REF['indices']),
                         torch.from_numpy(REF['crop']), K, GRID, eps, legacy_box_order, legacy_smoothing)


def _official(eps: float):
    """Official target ``(B, K, 2 + N)``: [ground truth, class-token label, token labels] -> (tokens, cls, gt)."""
    t = torch.from_numpy(REF[f'target_eps{eps}'])
    return t[:, :, 2:].transpose(1, 2), t[:, :, 1], t[:, :, 0]


@pytest.mark.parametrize('eps', [0.0, 0.1])
def test_legacy_targets_equal_the_official_crop_and_smoothing(eps):
    tokens, cls = _ours(eps, legacy_box_order=True, legacy_smoothing=True)
    ref_tokens, ref_cls, ref_gt = _official(eps)
    torch.testing.assert_close(tokens, ref_tokens, atol=1e-6, rtol=0)
    torch.testing.assert_close(cls, ref_cls, atol=1e-6, rtol=0)
    # the official ground-truth row is the standard smoothed one-hot (sums to one); only the teacher rows sum to more
    torch.testing.assert_close(ref_gt.sum(-1), torch.ones(len(ref_gt)))
    torch.testing.assert_close(ref_cls.sum(-1), torch.full((len(ref_cls),), 1 + eps / K))


def test_fixed_box_order_differs_from_the_official_crop():
    """Measured: the correct order changes the token targets of 5 of the 6 recorded crops (up to 0.80 per entry);
    only the full-image crop (symmetric about the diagonal) is unchanged."""
    tokens, _ = _ours(0.0, legacy_box_order=False, legacy_smoothing=True)
    ref_tokens, _, _ = _official(0.0)
    per_crop = (tokens - ref_tokens).abs().amax((1, 2))
    assert per_crop[1] < 1e-6  # crop (0, 0, 1, 1)
    assert (per_crop > 0.05).sum().item() == 5
    assert per_crop.max().item() == pytest.approx(0.80, abs=0.01)


def test_fixed_smoothing_differs_by_eps_over_k_times_the_target():
    tokens, cls = _ours(0.1, legacy_box_order=True, legacy_smoothing=False)
    ref_tokens, ref_cls, _ = _official(0.1)
    unsmoothed, _ = _ours(0.0, legacy_box_order=True, legacy_smoothing=False)
    torch.testing.assert_close(ref_tokens - tokens, 0.1 / K * unsmoothed, atol=1e-6, rtol=0)
    torch.testing.assert_close(tokens.sum(-1), torch.ones(tokens.shape[:2]))


@pytest.mark.parametrize('eps', [0.0, 0.1])
def test_loss_equals_official_with_legacy_smoothing_and_differs_without(eps):
    """Measured at eps 0.1, K 10: the fixed smoothing lowers the loss by eps / K * CE(x) = 7.0e-2 here (CE of the
    unsmoothed targets ~7); at K = 1000 the same formula gives ~1e-3 per step (issue 10)."""
    loss = TokenLabelLoss()
    logits_cls = torch.from_numpy(REF[f'logits_cls_eps{eps}'])
    logits_aux = torch.from_numpy(REF[f'logits_aux_eps{eps}'])
    tokens, cls = _ours(eps, legacy_box_order=True, legacy_smoothing=True)
    ref = float(REF[f'loss_eps{eps}'])
    assert loss(logits_cls, logits_aux, cls, tokens).item() == pytest.approx(ref, abs=1e-5)
    tokens, cls = _ours(eps, legacy_box_order=True, legacy_smoothing=False)
    diff = ref - loss(logits_cls, logits_aux, cls, tokens).item()
    if eps == 0:
        assert diff == pytest.approx(0.0, abs=1e-5)
    else:
        raw_tokens, raw_cls = _ours(0.0, legacy_box_order=True, legacy_smoothing=False)
        expected = eps / K * loss(logits_cls, logits_aux, raw_cls, raw_tokens).item()
        assert diff == pytest.approx(expected, rel=1e-4) and diff > 1e-2


class _Replay:
    """A generator stand-in that returns recorded draws (``beta``, then the two ``integers``)."""

    def __init__(self, lam: float, row: int, col: int) -> None:
        self.lam, self.ints = lam, [row, col]

    def beta(self, a, b):
        return self.lam

    def integers(self, n):
        return self.ints.pop(0)


def test_mixtoken_box_equals_the_official_rand_bbox_given_the_same_draws():
    for (sh, sw, lam, row, col), (x1, y1, x2, y2) in zip(REF['mixtoken_draws'], REF['mixtoken_boxes']):
        grid = (int(sh), int(sw))
        (y_lo, y_hi, x_lo, x_hi), mixed_lam = mixtoken_box(_Replay(lam, int(row), int(col)), grid)
        # official: x[:, :, bbx1:bbx2, bby1:bby2], rows first
        assert (y_lo, y_hi, x_lo, x_hi) == (x1, x2, y1, y2)
        # official TokenLabelCrossEntropy: lam = 1 - box area / N
        assert mixed_lam == pytest.approx(1 - (x2 - x1) * (y2 - y1) / (grid[0] * grid[1]))


@pytest.mark.parametrize('path', ['configs/lvvit_s_token_labeling.py',
                                  'configs/token_labeling/lvvit_t_token_labeling.py',
                                  'configs/token_labeling/lvvit_m_token_labeling.py',
                                  'configs/token_labeling/deit_s_token_labeling.py'])
def test_paper_rows_run_the_official_quirks(path):
    model = Config.fromfile(ROOT / path).model
    assert model.legacy_box_order is True and model.legacy_smoothing is True


def test_new_work_defaults_stay_fixed():
    params = inspect.signature(TokenLabelClassifier).parameters
    assert params['legacy_box_order'].default is False and params['legacy_smoothing'].default is False
    for size in 'tsm':
        model = Config.fromfile(ROOT / f'configs/_base_/models/lvvit_{size}.py').model
        assert 'legacy_box_order' not in model and 'legacy_smoothing' not in model
