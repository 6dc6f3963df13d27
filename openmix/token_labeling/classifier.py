"""Token-labeling classifier with MixToken on any timm ViT-style backbone (LV-ViT's training, Jiang et al. 2021)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from openmix.mixers.base import default_seed
from openmix.mixers.geometry import smooth_one_hot
from openmix.models.backbones.lvvit import convert_official_lvvit, is_official_lvvit
from openmix.models.classifier import ImageClassifier
from openmix.registry import MODELS

from .targets import box_tokens, mix_tokens, mixtoken_box, token_targets, unmix_token_outputs


@MODELS.register_module()
class TokenLabelClassifier(ImageClassifier):
    """Class head on the class token plus an auxiliary head on every patch token, trained with token labels.

    Training (paper Sec. 3.2-3.3, official ``lvvit.py``/``TokenLabelCrossEntropy``): targets come from the teacher
    label maps in ``data_samples`` (``label_values``/``label_indices`` ``(B, k, H, W)`` and the normalised ``crop``),
    cut to the crop and resampled to the token grid (:func:`token_targets`). MixToken (on by default, as in the
    official code): a box on the token grid (``lam ~ Beta(1, 1)``, clovaai rule) takes the patch embeddings of the
    flipped batch (a hook on ``patch_embed``, before the class token and position embedding); the auxiliary outputs
    inside the box are swapped back so each token meets its own image's target, and the class target becomes
    ``lam * t + (1 - lam) * t.flip(0)`` with ``lam = 1 - box / N``. Inference: ``cls + aux_weight * max_tokens(aux)``.

    State dicts in the official LV-ViT layout (released ``lvvit_*.pth.tar``) are converted on ``load_state_dict``
    (:func:`~openmix.models.backbones.lvvit.convert_official_lvvit`), so ``load_from`` and ``tools/test.py`` take them
    as they are; build the model from the matching ``configs/_base_/models/lvvit_*.py``.

    Args:
        backbone: a timm ViT-style ``TimmBackbone`` (class token, ``patch_embed.grid_size``, ``num_prefix_tokens``).
        head: class head config.
        loss: ``TokenLabelLoss`` config (cls/dense weights).
        mix_token: Apply MixToken in training.
        mix_token_alpha: Beta concentration of MixToken's lam (official: 1).
        cls_target: ``'teacher'`` (the crop-level teacher label, official default), ``'gt'`` (smoothed ground truth)
            or ``'both'`` (official ``--ground-truth``: teacher weight 0.5 where its argmax agrees with the label,
            else 0.9, rest the ground truth).
        label_smoothing: Epsilon of all targets.
        legacy_box_order: Reproduce the official transposed crop (see :func:`token_targets`).
        legacy_smoothing: Reproduce the official teacher-target smoothing ``x * (1 - eps + eps / K) + eps / K``
            (see :func:`token_targets`).
        aux_weight: Weight of the token maximum at inference (official: 0.5).
        seed: MixToken generator seed (default: run seed and rank).

    Example:
        >>> model = MODELS.build(dict(type='TokenLabelClassifier', head=dict(type='LinearClsHead', num_classes=10),
        ...     backbone=dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32, patch_size=4)))
        >>> model.predict(torch.zeros(2, 3, 32, 32))[0]['scores'].shape
        torch.Size([2, 10])

    Differences from the reference code:
        - Crop box order and teacher-target smoothing: see :func:`token_targets`; every crop and every target row
          with the defaults; ``legacy_box_order=True`` and ``legacy_smoothing=True`` (set in the paper-row configs)
          restore the official targets. With both flags one training step's loss (tiny LV-ViT, official weights,
          recorded official label maps and MixToken draws) equals the recorded official loss to float rounding; with
          the defaults it differs (``tests/models/test_lvvit_reference.py``).
        - MixToken draws come from the model's seeded generator, not NumPy's global state (see :func:`mixtoken_box`);
          always, no flag.
        - The official model returns ``cls + 0.5 * max(aux)`` in eval mode and the separate logits only in training;
          here ``predict`` returns the softmax of the same sum (equal to recorded official logits) and ``loss`` the
          loss. Interface only.
    """

    def __init__(self, backbone: dict, head: dict, loss: dict | None = None, mix_token: bool = True,
                 mix_token_alpha: float = 1.0, cls_target: str = 'teacher', label_smoothing: float = 0.1,
                 legacy_box_order: bool = False, legacy_smoothing: bool = False, aux_weight: float = 0.5,
                 seed: int | None = None, **kwargs) -> None:
        if cls_target not in ('teacher', 'gt', 'both'):
            raise ValueError(f"cls_target must be 'teacher', 'gt' or 'both', got {cls_target!r}")
        if kwargs.get('mixer'):
            raise ValueError('TokenLabelClassifier mixes with MixToken itself (mix_token=True); input mixers '
                             '(Mixup/CutMix of images and label maps) are not supported: remove model.mixer')
        super().__init__(backbone, head, loss=loss or dict(type='TokenLabelLoss'), label_smoothing=label_smoothing,
                         **kwargs)
        vit = self.backbone.model
        if not (hasattr(vit, 'patch_embed') and hasattr(vit.patch_embed, 'grid_size')
                and getattr(vit, 'num_prefix_tokens', 0) >= 1 and getattr(vit, 'cls_token', None) is not None):
            raise ValueError(f'TokenLabelClassifier needs a timm ViT-style backbone with a class token and a patch '
                             f'grid; {self.backbone.model_name!r} is not one')
        if getattr(vit.patch_embed, 'flatten', True) is False:
            raise ValueError('TokenLabelClassifier: dynamic_img_size (NHWC patch embeddings) is not supported')
        self.grid = tuple(vit.patch_embed.grid_size)
        self.aux_head = nn.Linear(self.backbone.num_features, self.num_classes)
        nn.init.trunc_normal_(self.aux_head.weight, std=0.02)
        nn.init.zeros_(self.aux_head.bias)
        self.mix_token, self.mix_token_alpha = mix_token, float(mix_token_alpha)
        self.cls_target, self.aux_weight = cls_target, float(aux_weight)
        self.legacy_box_order, self.legacy_smoothing = legacy_box_order, legacy_smoothing
        self.rng = np.random.default_rng(default_seed() if seed is None else seed)
        self._inside = None
        vit.patch_embed.register_forward_hook(self._mix_hook)
        self.register_load_state_dict_pre_hook(self._convert_official_state)

    @staticmethod
    def _convert_official_state(module, state_dict, prefix, *args) -> None:
        """``load_state_dict`` pre-hook: rewrite an official LV-ViT state dict (in place) into this layout."""
        if is_official_lvvit(state_dict, prefix):
            own = {k: state_dict.pop(k) for k in [k for k in state_dict if k.startswith(prefix)]}
            state_dict.update({prefix + k: v for k, v in convert_official_lvvit(
                {k[len(prefix):]: v for k, v in own.items()}).items()})

    def get_rng_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_rng_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def _mix_hook(self, module, inputs, output):
        return output if self._inside is None else mix_tokens(output, self._inside.to(output.device))

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(class feature ``(B, C)``, patch-token features ``(B, N, C)``) of the backbone's last layer."""
        vit = self.backbone.model
        feats = vit.forward_features(x)
        return vit.forward_head(feats, pre_logits=True), feats[:, vit.num_prefix_tokens:]

    def targets(self, data_samples: dict, device) -> tuple[torch.Tensor, torch.Tensor]:
        eps = self.label_smoothing
        tokens, teacher = token_targets(data_samples['label_values'].to(device),
                                        data_samples['label_indices'].to(device), data_samples['crop'].to(device),
                                        self.num_classes, self.grid, eps, self.legacy_box_order,
                                        self.legacy_smoothing)
        if self.cls_target == 'teacher':
            return tokens, teacher
        gt = smooth_one_hot(data_samples['gt_label'].to(device), self.num_classes, eps)
        if self.cls_target == 'gt':
            return tokens, gt
        agree = teacher.argmax(-1) == data_samples['gt_label'].to(device)
        w = torch.where(agree, 0.5, 0.9).to(teacher.dtype)[:, None]
        return tokens, w * teacher + (1 - w) * gt

    def loss(self, inputs: torch.Tensor, data_samples: dict) -> dict[str, torch.Tensor]:
        token_t, cls_t = self.targets(data_samples, inputs.device)
        inside, lam = None, 1.0
        if self.mix_token:
            box, lam = mixtoken_box(self.rng, self.grid, self.mix_token_alpha)
            inside = box_tokens(box, self.grid, inputs.device)
        self._inside = inside
        try:
            cls_feat, tokens = self.features(inputs)
        finally:
            self._inside = None
        cls_logits, aux = self.head(cls_feat), self.aux_head(tokens)
        if inside is not None:
            aux = unmix_token_outputs(aux, inside)
            cls_t = lam * cls_t + (1 - lam) * cls_t.flip(0)
        return dict(loss=self.criterion(cls_logits, aux, cls_t, token_t))

    def predict(self, inputs: torch.Tensor, data_samples: dict | None = None) -> list[dict]:
        cls_feat, tokens = self.features(inputs)
        logits = self.head(cls_feat) + self.aux_weight * self.aux_head(tokens).max(1).values
        out = dict(scores=logits.float().softmax(-1))
        if data_samples is not None and 'gt_label' in data_samples:
            out['gt_label'] = data_samples['gt_label']
        return [out]
