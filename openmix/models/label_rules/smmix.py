"""SMMix label rule: area targets, plus fine-grained token labels and a feature-consistency loss on SMMix batches."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openmix.mixers.base import MixedBatch
from openmix.mixers.geometry import mix_target
from openmix.registry import MODELS

from .area import AreaLabel

__all__ = ['SMMixLabel', 'smmix_aux_losses']


def soft_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.sum(-target * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()


def smmix_aux_losses(logits: torch.Tensor, own_logits: torch.Tensor, partner_logits: torch.Tensor,
                     y_a: torch.Tensor, y_b: torch.Tensor, unmixed_logits: torch.Tensor, lam: torch.Tensor,
                     index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SMMix's two extra terms (paper Eq. (7)-(8), official ``engine.py``).

    Fine-grained label assignment: ``(CE(own_logits, y_a) + CE(partner_logits, y_b)) / 2``, the token head's logits
    of the mean output token of the sample's own region and of the pasted region against their labels.
    Feature consistency: ``KL(softmax(z_mix) || softmax(logits))`` (batch mean) with
    ``z_mix = lam z + (1 - lam) z[index]`` the unmixed batch's logits mixed by area.
    """
    fine = 0.5 * (soft_ce(own_logits, y_a) + soft_ce(partner_logits, y_b))
    lam = lam.to(unmixed_logits.dtype)[:, None]
    z_mix = lam * unmixed_logits + (1 - lam) * unmixed_logits.index_select(0, index)
    con = F.kl_div(F.log_softmax(logits.float(), dim=1), F.softmax(z_mix.float(), dim=1), reduction='batchmean')
    return fine, con


@MODELS.register_module()
class SMMixLabel(AreaLabel):
    """SMMix fine-grained label assignment and feature consistency (Chen et al., "SMMix: Self-Motivated Image Mixing
    for Vision Transformers", ICCV 2023, https://arxiv.org/abs/2212.12977, Sec. 3.3-3.4).

    The image-level target is the area one, ``lam y_a + (1 - lam) y_b`` with ``lam = 1 - s^2 / N`` (Eq. (6)). On
    SMMix batches (an :class:`openmix.mixers.smmix.SMMixBatch`) two terms are added to the loss
    (:func:`smmix_aux_losses`): a token head (a linear layer of its own, ``token_head``, trained with the model)
    classifies the mean final patch token of the sample's own region as ``y_a`` and of the pasted region as
    ``y_b`` (fine-grained labels, Eq. (7)); and the prediction on the mixed image is pulled towards the area-mixed
    logits of the unmixed images from the mixer's no-grad pass (feature consistency, Eq. (8)). The final tokens are
    read by a forward hook on the stock timm model's ``norm`` (no forked backbone), only on SMMix batches. The sum
    ``fine_weight * fine + consistency_weight * con`` reaches the classifier's loss through the hook
    :class:`openmix.mixers.SMMix` puts on the criterion (so the logged ``loss`` is the total, as the official one).

    Args:
        num_classes: Classes of the token head (the classifier head's).
        fine_weight: Weight of the fine-grained term (official 1).
        consistency_weight: Weight of the consistency term (official 1).
        keep_in_graph: On batches that are not SMMix-mixed, add the token head with weight 0 (zero gradients, see
            below); False leaves it out of the graph as the official code.

    Example:
        >>> mixer = dict(type='SMMix')
        >>> label_assigner = dict(type='SMMixLabel', num_classes=100)

    Differences from the reference code:
        Reference: github.com/ChenMnZ/SMMix @ 14b1edc (``engine.py`` ``train_one_epoch``, ``deit.py``
        ``VisionTransformer.forward`` with ``token_head``), run outside the repo; recorded losses in
        ``tests/fixtures/reference/smmix.npz`` (see ``smmix.md``). Tested equal (``tests/mixers/test_smmix.py``):
        the three loss terms given the same logits, token-head logits, targets and unmixed logits (max difference
        0 in float32). Deviations:

        * Where the token head sits: the official DeiT fork has a ``token_head`` beside ``head`` and returns its
          logits from ``forward(x, target_mask, source_mask)``; ours is a layer of this rule fed by a hook on the
          stock model's final norm. Same computation (mean over the region's normalised patch tokens, then the
          linear layer); the official initialisation (truncated normal, std 0.02; zero bias).
        * The terms enter the loss through a forward hook on ``model.criterion``: with a criterion other than
          soft-target cross-entropy (e.g. BCE) the fine-grained term still uses soft-target cross-entropy, as the
          official code only ships that. Flag: none.
        * Mixup batches (half of all batches at ``switch_prob=0.5``): the official token head gets no gradient
          there, so its optimizer skips it; ours joins the loss with weight 0 by default (zero gradients: DDP needs
          no ``find_unused_parameters``, but AdamW still applies its momentum and weight decay to the token head).
          Flag: ``keep_in_graph=False`` restores the reference (no gradient).
        * Precision: both terms computed in fp32 from the (possibly autocast) logits; the official code runs them
          under autocast. Not measured on a GPU.
    """

    def __init__(self, num_classes: int | None = None, fine_weight: float = 1.0, consistency_weight: float = 1.0,
                 keep_in_graph: bool = True) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError('SMMixLabel: `label_assigner.num_classes` must be the number of classes (a positive '
                             f'int, as model.head.num_classes), got {num_classes!r}')
        self.num_classes = num_classes
        self.fine_weight, self.consistency_weight = float(fine_weight), float(consistency_weight)
        self.keep_in_graph = bool(keep_in_graph)
        self.token_head: nn.Linear | None = None
        self.active = False
        self._tokens: torch.Tensor | None = None
        self._pending = None
        self.aux_terms = 0
        self.num_prefix = 1

    def attach(self, backbone: nn.Module) -> None:
        model = getattr(backbone, 'model', backbone)
        norm = getattr(model, 'norm', None)
        if not isinstance(norm, nn.Module) or not hasattr(model, 'blocks'):
            raise ValueError('SMMixLabel needs the final norm of a timm ViT (model.norm) to read the output tokens; '
                             f'{type(model).__name__} has none')
        self.num_prefix = int(getattr(model, 'num_prefix_tokens', 1))
        self.token_head = nn.Linear(backbone.num_features, self.num_classes)
        nn.init.trunc_normal_(self.token_head.weight, std=0.02)
        nn.init.zeros_(self.token_head.bias)

        def on_norm(module, inputs, output):
            if self.active:
                self._tokens = output

        norm.register_forward_hook(on_norm)

    def prepare(self, mixed: MixedBatch) -> None:
        self.active = True  # the output tokens of every mixed batch (see forward)
        self._pending = None

    def forward(self, targets: torch.Tensor, mixed: MixedBatch) -> torch.Tensor:
        out = mix_target(targets, mixed.index, mixed.lam)
        if not self.active:
            return out
        self.active = False
        tokens, self._tokens = self._tokens, None
        if tokens is None:
            raise RuntimeError('SMMixLabel: no output tokens were captured in the forward pass')
        tokens = tokens[:, self.num_prefix:]
        if getattr(mixed, 'source_mask', None) is None:
            # not an SMMix batch: no extra term, but the token head joins the graph with weight 0 (zero gradients
            # rather than none, so DDP needs no find_unused_parameters)
            self._pending = self.token_head(tokens.mean(1)) if self.keep_in_graph else None
            return out
        source = mixed.source_mask.to(tokens.dtype)[:, :, None]
        own = (tokens * (1 - source)).sum(1) / (1 - source).sum(1).clamp_min(1)
        pasted = (tokens * source).sum(1) / source.sum(1).clamp_min(1)
        self._pending = (self.token_head(own), self.token_head(pasted), targets, targets.index_select(0, mixed.index),
                         mixed.unmixed_logits, mixed.lam, mixed.index)
        return out

    def pop_aux_loss(self, logits: torch.Tensor) -> torch.Tensor | None:
        """The weighted auxiliary loss of the last mixed batch given its ``logits`` (then forgotten): SMMix's terms
        on SMMix batches, a zero that keeps the token head in the graph on others; None when nothing is pending.
        ``aux_terms`` counts the cross-entropy-sized terms it added (1 or 0), for loss-scale checks."""
        pending, self._pending = self._pending, None
        if pending is None:
            self.aux_terms = 0
            return None
        if torch.is_tensor(pending):
            self.aux_terms = 0
            return 0.0 * pending.sum()
        fine, con = smmix_aux_losses(logits, *pending)
        self.aux_terms = 1
        return self.fine_weight * fine + self.consistency_weight * con

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, fine_weight={self.fine_weight}, '
                f'consistency_weight={self.consistency_weight}, keep_in_graph={self.keep_in_graph}')
