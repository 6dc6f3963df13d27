from .cross_entropy import BinaryCrossEntropy, LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from .decouple_mix import DecoupledMixCrossEntropy
from .sumix import SUMixUncertaintyLoss

__all__ = ['SoftTargetCrossEntropy', 'LabelSmoothingCrossEntropy', 'BinaryCrossEntropy', 'DecoupledMixCrossEntropy',
           'SUMixUncertaintyLoss']
