"""Evaluation metrics (registered in openmix's METRICS)."""
from .accuracy import Accuracy, topk_correct

__all__ = ['Accuracy', 'topk_correct']
