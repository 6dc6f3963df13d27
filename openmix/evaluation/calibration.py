"""Expected calibration error (ECE) of top-1 confidence, and the reliability diagram."""
from __future__ import annotations

import os
import os.path as osp
from typing import Any, Sequence

import torch
from mmengine.evaluator import BaseMetric

from openmix.registry import METRICS

__all__ = ['CalibrationError', 'calibration_bins', 'expected_calibration_error', 'plot_reliability_diagram']

PLOT_HINT = 'matplotlib is needed for plots: pip install openmix[plot] (or pip install matplotlib)'


def calibration_bins(confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 15) -> dict[str, torch.Tensor]:
    """Per-bin statistics of ``n_bins`` equal-width confidence bins ``I_m = ((m - 1) / M, m / M]``.

    Bin edges are ``torch.linspace(0, 1, M + 1)`` (as in Guo et al.'s ``_ECELoss``, gpleiss/temperature_scaling), a
    confidence equal to an edge falls into the bin it closes; a confidence of exactly 0 goes to the first bin.

    Args:
        confidence: ``(N,)`` top-1 probabilities in [0, 1].
        correct: ``(N,)`` bool (or 0/1), whether the top-1 prediction is right.
        n_bins: M.

    Returns:
        dict of ``(M,)`` tensors: ``count`` (samples per bin), ``accuracy`` and ``confidence`` (bin means, 0 for
        empty bins), and ``edges`` ``(M + 1,)``.
    """
    if n_bins < 1:
        raise ValueError(f'n_bins must be a positive integer, got {n_bins}')
    confidence = confidence.detach().double().flatten()
    correct = correct.detach().to(device=confidence.device, dtype=torch.float64).flatten()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64, device=confidence.device)
    # bucketize(right=False): index i with edges[i] < c <= edges[i + 1], i.e. the right-closed bin
    idx = torch.bucketize(confidence, edges[1:-1], right=False)
    count = torch.zeros(n_bins, dtype=torch.float64, device=confidence.device).index_add_(0, idx,
                                                                                          torch.ones_like(confidence))
    acc_sum = torch.zeros_like(count).index_add_(0, idx, correct)
    conf_sum = torch.zeros_like(count).index_add_(0, idx, confidence)
    denom = count.clamp(min=1)
    return dict(count=count, accuracy=acc_sum / denom, confidence=conf_sum / denom, edges=edges)


def expected_calibration_error(confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 15) -> float:
    """ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)| (Guo et al., ICML 2017, Eq. 3), as a fraction in [0, 1]."""
    bins = calibration_bins(confidence, correct, n_bins)
    n = bins['count'].sum().clamp(min=1)
    return float((bins['count'] / n * (bins['accuracy'] - bins['confidence']).abs()).sum())


def plot_reliability_diagram(confidence: torch.Tensor, correct: torch.Tensor, path: str, n_bins: int = 15,
                             title: str | None = None) -> str:
    """Write a reliability diagram (Guo et al. 2017, Fig. 1) to ``path`` (PNG); returns the path.

    Top: accuracy per confidence bin (bars), the gap to the bin's mean confidence (hatched), the diagonal of perfect
    calibration, ECE in the legend. Bottom: the share of samples per bin.
    """
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError as e:  # optional dependency
        raise ImportError(PLOT_HINT) from e
    bins = calibration_bins(confidence, correct, n_bins)
    ece = expected_calibration_error(confidence, correct, n_bins)
    edges = bins['edges'].cpu().numpy()
    left, width = edges[:-1], edges[1] - edges[0]
    count = bins['count'].cpu().numpy()
    filled = count > 0
    acc = bins['accuracy'].cpu().numpy()
    conf = bins['confidence'].cpu().numpy()
    fig, (ax, ax_hist) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw=dict(height_ratios=(3, 1)))
    ax.bar(left[filled], acc[filled], width=width, align='edge', color='tab:blue', edgecolor='black',
           label='accuracy')
    ax.bar(left[filled], (conf - acc)[filled], bottom=acc[filled], width=width, align='edge', color='tab:red',
           alpha=0.3, edgecolor='tab:red', hatch='//', label='gap to confidence')
    ax.plot([0, 1], [0, 1], '--', color='gray', label='perfect calibration')
    ax.set_ylim(0, 1)
    ax.set_ylabel('accuracy')
    ax.set_title(title or f'Reliability diagram ({int(count.sum())} samples)')
    ax.legend(loc='upper left', title=f'ECE {100 * ece:.2f}% ({n_bins} bins)')
    ax_hist.bar(left, count / max(count.sum(), 1), width=width, align='edge', color='tab:gray', edgecolor='black')
    ax_hist.set_xlim(0, 1)
    ax_hist.set_xlabel('top-1 confidence')
    ax_hist.set_ylabel('share of samples')
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


@METRICS.register_module()
class CalibrationError(BaseMetric):
    """Expected calibration error of the top-1 confidence in percent: ``{'ece': ..}`` (key ``calibration/ece``).

    Guo et al., "On Calibration of Modern Neural Networks", ICML 2017 (https://arxiv.org/abs/1706.04599), Eq. 3:
    samples are grouped into ``n_bins`` equal-width bins of their top-1 confidence (the largest softmax probability),
    ``ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)|``. Reported x 100 like the accuracies (Guo et al.'s tables use
    percent too). One ``(confidence, correct)`` pair is stored per sample, so the DDP padding is cut exactly as in
    :class:`~openmix.evaluation.Accuracy`.

    ``process`` receives the classifier's ``predict`` output: ``dict(scores=(B, K) probabilities, gt_label=(B,))``.
    Scores that are not probabilities (rows not summing to 1) are put through a softmax first.

    Args:
        n_bins: number of equal-width confidence bins (15 as Guo et al.).
        reliability_png: if given, a reliability diagram is written there when the metric is computed.
        collect_device, prefix, collect_dir: as mmengine's ``BaseMetric``.
    """

    default_prefix = 'calibration'

    def __init__(self, n_bins: int = 15, reliability_png: str | None = None, collect_device: str = 'cpu',
                 prefix: str | None = 'calibration', collect_dir: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if int(n_bins) != n_bins or n_bins < 1:
            raise ValueError(f'CalibrationError.n_bins must be a positive integer, got {n_bins!r}')
        self.n_bins = int(n_bins)
        self.reliability_png = reliability_png

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for out in data_samples:
            if 'gt_label' not in out:
                raise KeyError('CalibrationError needs `gt_label` in the predict output (a labelled test set); '
                               f'got keys {sorted(out)}')
            scores = out['scores'].float()
            if not torch.allclose(scores.sum(-1), torch.ones((), device=scores.device), atol=1e-3):
                scores = scores.softmax(-1)
            conf, pred = scores.max(-1)
            correct = pred == out['gt_label'].to(pred.device).view(-1)
            # one host copy per batch (evaluation only); a list of per-sample rows
            self.results.extend(zip(conf.cpu().tolist(), correct.cpu().tolist()))

    def compute_metrics(self, results: list) -> dict[str, float]:
        conf = torch.tensor([r[0] for r in results], dtype=torch.float64)
        correct = torch.tensor([bool(r[1]) for r in results])
        if self.reliability_png:
            plot_reliability_diagram(conf, correct, self.reliability_png, self.n_bins)
        return {'ece': 100.0 * expected_calibration_error(conf, correct, self.n_bins)}
