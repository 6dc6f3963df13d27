"""Label rules (ARCHITECTURE.md axis 2): the target of a mixed image, computed after the forward pass.

One rule per file, as the mixers are: :class:`AreaLabel` (the mixer's ratio), :class:`TransMixLabel` (class
attention inside the pasted box), :class:`TokenMixLabel` (a teacher's activations over the kept tokens),
:class:`SMMixLabel` (fine-grained token labels + feature consistency), :class:`TLAlignLabel` (token labels traced
through the attention layers), :class:`MixProLabel` (attention label weighted by the model's confidence) and
:class:`SUMixLabel` (ratio re-estimated from features; with :class:`SUMixClassifier`, which runs the clean pass it
needs). A rule is a module with ``attach(backbone)`` (hooks, once), ``prepare(mixed)`` (before the forward pass) and
``forward(targets, mixed)`` (after it; ``forward(targets, mixed, logits=...)`` when it sets ``needs_logits``),
selected by ``model.label_assigner``. ``benchmarks/label_fidelity.py`` ranks them against the visible object share.
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
