"""Evaluation metrics (registered in openmix's METRICS)."""
from .accuracy import Accuracy, topk_correct
from .calibration import CalibrationError, expected_calibration_error, plot_reliability_diagram
from .robustness import PatchDrop, PatchShuffle, evaluate_robustness, patch_drop, patch_shuffle

__all__ = ['Accuracy', 'topk_correct', 'CalibrationError', 'expected_calibration_error', 'plot_reliability_diagram',
           'PatchDrop', 'PatchShuffle', 'evaluate_robustness', 'patch_drop', 'patch_shuffle']
