"""Expected calibration error: a hand-computed value, bin edges, the loop-over-bins definition, the diagram file."""
import pytest
import torch

from openmix.evaluation import CalibrationError, expected_calibration_error
from openmix.evaluation.calibration import calibration_bins
from openmix.registry import METRICS


def batch(scores, labels):
    return [dict(scores=torch.tensor(scores, dtype=torch.float32), gt_label=torch.tensor(labels))]


# top-1 confidences 0.95 (right), 0.95 (wrong), 0.5 (right), 0.3 (wrong); 15 bins of width 1/15:
# 0.95 -> bin (14/15, 1], 0.5 -> bin (7/15, 8/15], 0.3 -> bin (4/15, 5/15]
HAND_SCORES = [[0.95, 0.05, 0.0, 0.0], [0.95, 0.05, 0.0, 0.0], [0.2, 0.5, 0.2, 0.1], [0.3, 0.25, 0.25, 0.2]]
HAND_LABELS = [0, 1, 1, 2]
# ECE = 2/4 * |0.5 - 0.95| + 1/4 * |1 - 0.5| + 1/4 * |0 - 0.3| = 0.225 + 0.125 + 0.075
HAND_ECE = 0.425


def test_hand_computed_ece_through_the_registry():
    metric = METRICS.build(dict(type='CalibrationError'))
    assert metric.n_bins == 15
    metric.process(None, batch(HAND_SCORES[:3], HAND_LABELS[:3]))
    metric.process(None, batch(HAND_SCORES[3:], HAND_LABELS[3:]))
    assert metric.evaluate(size=4) == {'calibration/ece': pytest.approx(100 * HAND_ECE, abs=1e-5)}
    conf = torch.tensor([0.95, 0.95, 0.5, 0.3], dtype=torch.float64)
    correct = torch.tensor([True, False, True, False])
    assert expected_calibration_error(conf, correct) == pytest.approx(HAND_ECE, abs=1e-12)
    bins = calibration_bins(conf, correct)
    assert bins['count'].tolist() == [0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2]
    assert bins['accuracy'][14] == 0.5 and bins['confidence'][14] == pytest.approx(0.95)


def test_logits_are_put_through_softmax():
    logits = torch.log(torch.tensor(HAND_SCORES) + 1e-12) + 3.0  # same softmax, rows do not sum to 1
    metric = CalibrationError()
    metric.process(None, [dict(scores=logits, gt_label=torch.tensor(HAND_LABELS))])
    assert metric.evaluate(size=4)['calibration/ece'] == pytest.approx(100 * HAND_ECE, abs=1e-4)


def test_bins_are_right_closed_and_zero_goes_to_the_first():
    edges = torch.linspace(0, 1, 16, dtype=torch.float64)
    conf = torch.stack([edges[1], edges[1] + 1e-9, edges[15], torch.tensor(0.0, dtype=torch.float64)])
    count = calibration_bins(conf, torch.ones(4, dtype=torch.bool))['count']
    assert count[0] == 2 and count[1] == 1 and count[14] == 1  # 1/15 closes bin 0; 1.0 closes bin 14


def test_calibrated_bins_give_zero_and_matches_the_loop_over_bins_definition():
    # in each occupied bin accuracy equals confidence: 4 samples at 0.75 with 3 right, 2 at 0.5 with 1 right
    conf = torch.tensor([0.75] * 4 + [0.5] * 2)
    correct = torch.tensor([1, 1, 1, 0, 1, 0], dtype=torch.bool)
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0, abs=1e-12)

    gen = torch.Generator().manual_seed(0)
    conf = torch.rand(1000, generator=gen, dtype=torch.float64) * 0.9 + 0.1
    correct = torch.rand(1000, generator=gen, dtype=torch.float64) < conf ** 2
    edges = torch.linspace(0, 1, 16, dtype=torch.float64)
    loop = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):  # Guo et al. Eq. 3 with masks lo < c <= hi
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            loop += inside.double().mean() * (correct[inside].double().mean() - conf[inside].mean()).abs()
    assert expected_calibration_error(conf, correct) == pytest.approx(float(loop), abs=1e-12)


def test_reliability_diagram_png(tmp_path):
    pytest.importorskip('matplotlib')
    path = tmp_path / 'sub' / 'reliability.png'
    metric = CalibrationError(n_bins=10, reliability_png=str(path))
    metric.process(None, batch(HAND_SCORES, HAND_LABELS))
    metric.evaluate(size=4)
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and path.stat().st_size > 1000


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='n_bins'):
        CalibrationError(n_bins=0)
    with pytest.raises(KeyError, match='gt_label'):
        CalibrationError().process(None, [dict(scores=torch.rand(2, 3))])
