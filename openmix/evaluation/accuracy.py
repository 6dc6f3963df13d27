"""Top-k accuracy over the model's ``predict`` output, exact under DDP padding."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from mmengine.evaluator import BaseMetric

from openmix.registry import METRICS

__all__ = ['Accuracy', 'topk_correct']


def topk_correct(scores: torch.Tensor, gt_label: torch.Tensor, topk: Sequence[int]) -> torch.Tensor:
    """Per-sample top-k correctness, on ``scores.device``.

    As in timm's ``accuracy`` (``timm/utils/metrics.py``), k larger than the number of classes K is clipped to K, so
    top-5 of a 3-class problem is always correct. Ties are broken by ``torch.topk``.

    Args:
        scores: ``(B, K)`` class scores (logits or probabilities).
        gt_label: ``(B,)`` int64 class indices (any device).
        topk: the k values.

    Returns:
        ``(B, len(topk))`` bool: entry ``[i, j]`` is True when the true class of sample i is among its
        ``topk[j]`` highest scores.
    """
    num_classes = scores.shape[1]
    maxk = min(max(topk), num_classes)
    pred = scores.topk(maxk, dim=1).indices  # (B, maxk)
    hit = pred == gt_label.to(scores.device).view(-1, 1)
    hit_by_k = hit.cumsum(dim=1) > 0  # column j: true class within the first j + 1 predictions
    cols = torch.tensor([min(k, maxk) - 1 for k in topk], device=scores.device)
    return hit_by_k.index_select(1, cols)


@METRICS.register_module()
class Accuracy(BaseMetric):
    """Top-k accuracy in percent: ``{'top1': .., 'top5': ..}`` (mmengine adds the ``accuracy/`` prefix).

    ``process`` receives the classifier's ``predict`` output, a list with one dict per batch:
    ``dict(scores=(B, K) float, gt_label=(B,) int64)``. Correctness is computed on the device and one entry per sample
    is stored, so mmengine's ``collect_results(size=len(dataset))``, which interleaves the ranks' results and cuts the
    sampler's padding off the end, drops exactly the padded duplicates, also when the last batches are uneven.

    Args:
        topk: the k values to report.
        collect_device: ``'cpu'`` or ``'gpu'``, where results are gathered across ranks.
        prefix: key prefix (``accuracy/top1``).
        collect_dir: shared directory for CPU collection (mmengine default: a temporary one).
    """

    default_prefix = 'accuracy'

    def __init__(self, topk: int | Sequence[int] = (1, 5), collect_device: str = 'cpu',
                 prefix: str | None = 'accuracy', collect_dir: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        topk = (topk,) if isinstance(topk, int) else tuple(topk)
        if not topk or any(int(k) != k or k < 1 for k in topk):
            raise ValueError(f'topk must be positive integers, got {topk}')
        self.topk = tuple(int(k) for k in topk)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for out in data_samples:
            if 'gt_label' not in out:
                raise KeyError('Accuracy needs `gt_label` in the predict output (a labelled validation set); '
                               f'got keys {sorted(out)}')
            correct = topk_correct(out['scores'], out['gt_label'], self.topk)
            # one host copy per batch (evaluation only); a list of per-sample rows
            self.results.extend(correct.cpu().tolist())

    def compute_metrics(self, results: list) -> dict[str, float]:
        correct = torch.tensor(results, dtype=torch.float64).view(-1, len(self.topk))
        acc = correct.mean(0) * 100.0
        return {f'top{k}': float(a) for k, a in zip(self.topk, acc)}
