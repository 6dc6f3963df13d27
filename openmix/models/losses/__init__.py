from .cross_entropy import BinaryCrossEntropy, LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from .decouple_mix import DecoupledMixCrossEntropy

__all__ = ['SoftTargetCrossEntropy', 'LabelSmoothingCrossEntropy', 'BinaryCrossEntropy', 'DecoupledMixCrossEntropy']
