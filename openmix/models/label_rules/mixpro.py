"""MixPro's progressive attention labeling (PAL): the attention label, weighted by the model's confidence."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openmix.mixers.base import MixedBatch
from openmix.mixers.geometry import mix_target, one_hot
from openmix.registry import MODELS

from .area import AreaLabel
from .tl_align import has_token_geometry, token_partner_share


@MODELS.register_module()
class MixProLabel(AreaLabel):
    """Progressive attention labeling of MixPro (Zhao et al., "MixPro: Data Augmentation with MaskMix and Progressive
    Attention Labeling for Vision Transformer", ICLR 2023).

    Paper: https://arxiv.org/abs/2304.12043 (Sec. 3.2, Eq. 4-6). On MaskMix batches the weight of the unshuffled
    sample is

        lam_attn = sum(A * M) / sum(A)                               (Eq. 4, attention label)
        alpha    = cos(y_area, softmax(z))                           (Eq. 5, the model's confidence)
        lam      = alpha * lam_attn + (1 - alpha) * lam_area         (Eq. 6, progressive label)

    with ``A`` the last block's class attention over the patch tokens (post-softmax, head mean, detached; captured by
    :class:`openmix.models.class_attention.ClassAttentionProbe` with fused attention on), ``M`` the sample's own share
    of each token (0/1 when the mask cells are multiples of the patch), ``lam_area`` MaskMix's ratio, ``y_area`` the
    area-mixed (smoothed) target and ``z`` the logits. As the model learns, its predictions approach the mixed target,
    ``alpha`` grows and the attention label takes over. The target is ``lam * y_a + (1 - lam) * y_b``; as in the
    official code ``alpha`` is not detached (the loss's gradient reaches the logits through it too). Batches mixed
    otherwise keep area labels (the official code applies PAL to MaskMix batches only).

    Logits: the rule sets ``needs_logits = True``, so the classifier calls it as ``forward(targets, mixed,
    logits=logits)`` (the label-rule contract, :mod:`openmix.models.label_rules`).

    Args:
        modes: ``MixedBatch.mode`` values relabelled (default MaskMix batches, as the official code).
        smoothing: Mix the smoothed one-hots (True) or hard one-hots as the official PAL loss
            (``CrossEntropyLoss`` on the labels; False). The confidence always uses the smoothed area target.
        detach_confidence: Stop the gradient through ``alpha`` (the official code lets it flow).

    Example:
        >>> mixer = dict(type='RandomMix', mixers=[dict(type='MaskMix', mask_patch_size=56),
        ...              dict(type='Mixup', alpha=0.8), dict(type='CutMix')], probs=[0.5, 0.25, 0.25])
        >>> label_assigner = dict(type='MixProLabel')  # PAL on the MaskMix batches, area labels on the others

    Differences from the reference code:
        Reference: github.com/fistyee/MixPro @ 53a229e (``main.py`` ``train_one_epoch``: the ``maskmix and ATTN``
        branch; ``models/vit.py`` ``return_attn``), run outside the repo (the branch's lines executed as they
        are), recorded in ``tests/fixtures/reference/mixpro.npz`` (see ``mixpro.md``). Tested
        (``tests/models/test_mixpro.py``): on its masks (32, 30 and 48 px; cells of 8 and 16 px; tokens of 4 and
        8 px), attention rows and logits our lam equals its lam (max abs difference 0; on self pairs we keep lam 1,
        the same target), with ``smoothing=False`` the soft-target cross-entropy of our target equals its loss
        (difference 0) and the gradient on the logits (through ``alpha`` too) equals its gradient (1.5e-8). The
        attention row is TransMix's (the same ``attn[:, :, 0, 1:]`` head mean), tested against the official TransMix
        ViT.
        Deviations:

        * Label smoothing: the official PAL loss is ``lam * CE(z, y_a) + (1 - lam) * CE(z, y_b)`` on hard labels,
          so PAL batches lose the label smoothing the other batches have; ours mixes the smoothed one-hots (every
          MaskMix batch). Flag: ``smoothing=False``.
        * Token mask: the official mask is the cell mask repeated ``mask_patch_size // patch_size`` times and cut
          to the token grid, which needs cells that are multiples of the patch; ours averages the pixel mask over
          each patch: equal for such cells (tested), fractional otherwise (no reference output). Flag: none.
        * PAL is off in the official DeiT-S/T and Swin configs (``PAL_ATTN: False``; ``deit_base..._attn_all``
          sets it); ours applies it whenever the rule is selected. Flag: ``label_assigner=dict(type='AreaLabel')``.
        * Precision: the official forward runs under ``autocast``; ours computes the attention row in fp32 and
          the label in fp32. fp32: equal; mixed precision not measured.
        * Models: ViT/DeiT with a class token read by the head (the probe's models; the official Swin has its
          own attention output, not reproduced here). Flag: none.
    """

    needs_logits = True

    def __init__(self, modes: tuple[str, ...] | list[str] = ('maskmix',), smoothing: bool = True,
                 detach_confidence: bool = False) -> None:
        super().__init__()
        self.modes = tuple([modes] if isinstance(modes, str) else modes)
        self.smoothing = bool(smoothing)
        self.detach_confidence = bool(detach_confidence)
        self.probe = None
        self.grid_size = None
        self.active = False

    def attach(self, backbone: nn.Module) -> None:
        from openmix.models.class_attention import ClassAttentionProbe
        model = getattr(backbone, 'model', backbone)
        self.probe = ClassAttentionProbe(model, getattr(backbone, 'model_name', type(model).__name__))
        grid = getattr(getattr(model, 'patch_embed', None), 'grid_size', None)
        self.grid_size = tuple(int(g) for g in grid) if grid is not None else None

    def prepare(self, mixed: MixedBatch) -> None:
        """Before the forward pass: capture attention and logits only on batches PAL relabels."""
        self.active = mixed.mode in self.modes and has_token_geometry(mixed)
        self.probe.active = self.active

    def pal_lam(self, targets: torch.Tensor, mixed: MixedBatch, attn: torch.Tensor,
                logits: torch.Tensor) -> torch.Tensor:
        """Per-sample weight of the unshuffled sample, Eq. 4-6 (carries the gradient of ``alpha`` unless detached)."""
        n = attn.shape[1]
        grid = self.grid_size if self.grid_size and self.grid_size[0] * self.grid_size[1] == n else None
        if grid is None:
            h, w = mixed.inputs.shape[-2:]
            gh = max(int(round((n * h / w) ** 0.5)), 1)
            grid = (gh, n // gh)
        other = token_partner_share(mixed, grid).to(attn.device)
        attn = attn.float()
        own = (attn * (1 - other)).sum(1)
        lam_attn = own / (own + (attn * other).sum(1)).clamp_min(torch.finfo(attn.dtype).tiny)
        lam_area = mixed.lam.to(attn.device, torch.float32)
        y_area = mix_target(targets.float(), mixed.index, lam_area)
        z = logits.float().detach() if self.detach_confidence else logits.float()
        alpha = F.cosine_similarity(y_area, z.softmax(-1), dim=1)
        lam = alpha * lam_attn + (1 - alpha) * lam_area
        return torch.where(lam_area == 1, torch.ones_like(lam), lam)  # unmixed (self-paired) samples stay unmixed

    def forward(self, targets: torch.Tensor, mixed: MixedBatch, logits: torch.Tensor | None = None) -> torch.Tensor:
        if not self.active:
            return super().forward(targets, mixed)
        self.active = self.probe.active = False
        if logits is None:
            raise RuntimeError('MixProLabel needs the logits of the forward pass: call it as forward(targets, mixed, '
                               'logits=...) (the classifier does, as the rule sets needs_logits = True)')
        lam = self.pal_lam(targets, mixed, self.probe.pop(), logits)
        base = targets if self.smoothing else one_hot(targets.argmax(1), targets.shape[1]).to(targets.dtype)
        return mix_target(base, mixed.index, lam)
