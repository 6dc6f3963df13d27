"""Top-k accuracy: hand-computed values, K < 5, and exactness of the DDP padding cut with uneven last batches."""
import math

import pytest
import torch
from mmengine.dataset import DefaultSampler
from mmengine.dist import dist as mm_dist

from openmix.evaluation import Accuracy, topk_correct
from openmix.registry import METRICS


def batch(scores, labels):
    return [dict(scores=torch.tensor(scores, dtype=torch.float32), gt_label=torch.tensor(labels))]


def test_hand_computed_top1_top5():
    metric = METRICS.build(dict(type='Accuracy', topk=(1, 5)))
    scores = [
        [0.9, 0.1, 0.0, 0.0, 0.0, 0.0],  # label 0: rank 1
        [0.1, 0.5, 0.2, 0.1, 0.05, 0.05],  # label 2: rank 2
        [0.6, 0.3, 0.05, 0.03, 0.01, 0.02],  # label 4: rank 6 (lowest)
        [0.0, 0.0, 0.1, 0.2, 0.3, 0.4],  # label 1: rank 6
    ]
    metric.process(None, batch(scores, [0, 2, 4, 1]))
    metric.process(None, batch([[0.2, 0.1, 0.3, 0.4, 0.0, 0.0]], [3]))  # rank 1
    assert metric.results == [[True, True], [False, True], [False, False], [False, False], [True, True]]
    out = metric.evaluate(size=5)
    assert out == {'accuracy/top1': pytest.approx(40.0), 'accuracy/top5': pytest.approx(60.0)}


def test_topk_clipped_to_number_of_classes():
    metric = Accuracy(topk=(1, 2, 5))
    metric.process(None, batch([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]], [2, 1, 0]))
    # labels rank 2, 2, 3 of 3 classes: top1 0/3, top2 2/3, top5 (= top3) 3/3
    assert metric.evaluate(3) == {'accuracy/top1': 0.0, 'accuracy/top2': pytest.approx(200 / 3),
                                  'accuracy/top5': 100.0}


def test_topk_correct_on_logits_and_device_of_scores():
    scores = torch.tensor([[1.0, -2.0, 3.0], [0.0, 5.0, 4.0]])
    out = topk_correct(scores, torch.tensor([0, 2]), (1, 2))
    assert out.dtype == torch.bool and out.tolist() == [[False, True], [False, True]]
    with pytest.raises(KeyError, match='gt_label'):
        Accuracy().process(None, [dict(scores=scores)])


def test_two_rank_padding_is_cut_exactly(monkeypatch, tmp_path):
    """33 samples on 2 ranks with batch 4: the sampler pads sample 0 onto rank 1; batches 4,4,4,4,1 per rank."""
    n, num_classes, world = 33, 7, 2
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(n, num_classes, generator=g)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    # make sample 0 (the one duplicated as padding) wrong at top-1, so a kept duplicate would change the result
    labels[0] = scores[0].argmin()

    single = Accuracy(topk=(1, 5))
    single.process(None, [dict(scores=scores, gt_label=labels)])
    expected = single.evaluate(n)
    top1 = (scores.argmax(1) == labels).double().mean().item() * 100
    assert expected['accuracy/top1'] == pytest.approx(top1)

    parts = {}
    for rank in range(world):
        monkeypatch.setattr('mmengine.dataset.sampler.get_dist_info', lambda r=rank: (r, world))
        indices = list(DefaultSampler(list(range(n)), shuffle=False))
        assert len(indices) == 17
        metric = Accuracy(topk=(1, 5), collect_dir=str(tmp_path / 'collect'))
        for start in range(0, len(indices), 4):
            idx = torch.tensor(indices[start:start + 4])
            metric.process(None, [dict(scores=scores[idx], gt_label=labels[idx])])
        parts[rank] = metric
    assert parts[1].results[-1] == parts[0].results[0]  # the padded duplicate of sample 0

    # mmengine's collect_results_cpu with a shared directory: rank 1 writes its part, then rank 0 merges
    monkeypatch.setattr(mm_dist, 'barrier', lambda *a, **k: None)
    for rank in (1, 0):
        monkeypatch.setattr(mm_dist, 'get_dist_info', lambda *a, r=rank, **k: (r, world))
        monkeypatch.setattr('mmengine.evaluator.metric.is_main_process', lambda r=rank: r == 0)
        monkeypatch.setattr('mmengine.evaluator.metric.broadcast_object_list', lambda data, src=0: None)
        out = parts[rank].evaluate(n)
    assert out == {k: pytest.approx(v, abs=1e-9) for k, v in expected.items()}
    # keeping the duplicate would have given 17 * 2 = 34 samples
    wrong = (top1 * n / 100) / (n + 1) * 100
    assert not math.isclose(out['accuracy/top1'], wrong)
