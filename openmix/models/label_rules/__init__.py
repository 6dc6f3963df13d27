"""Label rules (ARCHITECTURE.md axis 2): the target of a mixed image, computed after the forward pass.

One rule per file, as the mixers are: :class:`AreaLabel` (the mixer's ratio), :class:`TransMixLabel` (class
attention inside the pasted box). A rule is a module with ``attach(backbone)`` (hooks, once), ``prepare(mixed)``
(before the forward pass) and ``forward(targets, mixed)`` (after it), selected by ``model.label_assigner``.
"""
from .area import AreaLabel
from .mixpro import MixProLabel
from .smmix import SMMixLabel
from .sumix import SUMixClassifier, SUMixLabel, semantic_distances
from .tokenmix import TokenMixLabel
from .tl_align import TLAlignLabel
from .transmix import TransMixLabel, box_token_mask

__all__ = ['AreaLabel', 'MixProLabel', 'SMMixLabel', 'TLAlignLabel', 'TokenMixLabel', 'TransMixLabel',
           'box_token_mask', 'SUMixLabel', 'SUMixClassifier', 'semantic_distances']
