from .cross_entropy import BinaryCrossEntropy, LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

__all__ = ['SoftTargetCrossEntropy', 'LabelSmoothingCrossEntropy', 'BinaryCrossEntropy']
