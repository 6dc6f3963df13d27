"""ImageClassifier: preprocessor -> mixer -> backbone -> head -> label assignment -> loss."""
from __future__ import annotations

import logging

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel

from openmix.mixers.geometry import smooth_one_hot
from openmix.registry import MIXERS, MODELS


@MODELS.register_module()
class ImageClassifier(BaseModel):
    """Image classifier whose training step mixes inputs on the device before the backbone.

    Mixing sits in the model (not the loader) because label assignment may need the network's own outputs
    (TransMix's attention); the mixer and the label assigner are slots filled from the config.

    Args:
        backbone: backbone config, e.g. ``dict(type='TimmBackbone', model_name='deit_small_patch16_224')``.
        head: head config; ``in_channels`` defaults to the backbone's ``num_features``.
        loss: loss config on soft targets (``SoftTargetCrossEntropy``, ``BinaryCrossEntropy``, ...).
        mixer: input mixer config (``RandomMix``, ``Mixup``, ``CutMix``, ...) or None. A mixer with
            ``guided = True`` needs the network: it gets ``attach(classifier)`` once after the model is built and is
            called as ``mixer(inputs, targets)`` (smoothed one-hot targets) in each training step.
        label_assigner: label assignment of mixed batches (default ``AreaLabel``).
        label_smoothing: epsilon of the smoothed one-hot targets (applied whether or not a batch is mixed).
        data_preprocessor: ``ClsDataPreprocessor`` config.
        init_cfg: mmengine init config.

    Differences from the reference code (OpenMixup ``MixUpClassification``, timm/DeiT ``train_one_epoch``): the
    classifier only orders the steps; the methods' differences are listed in their own classes. The loss is the
    cross-entropy of the mixed soft target, where OpenMixup computes ``lam * CE(y_a) + (1 - lam) * CE(y_b)``: equal by
    linearity (to float rounding), as DeiT's ``SoftTargetCrossEntropy`` is.
    """

    def __init__(self, backbone: dict, head: dict, loss: dict | None = None, mixer: dict | None = None,
                 label_assigner: dict | None = None, label_smoothing: float = 0.0,
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None) -> None:
        # built with openmix's registry so the model also builds outside a runner (no default scope needed)
        super().__init__(data_preprocessor=MODELS.build(data_preprocessor or dict(type='ClsDataPreprocessor')),
                         init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        head = dict(head)
        head.setdefault('in_channels', self.backbone.num_features)
        self.head = MODELS.build(head)
        self.num_classes = self.head.num_classes
        self.criterion = MODELS.build(loss or dict(type='SoftTargetCrossEntropy'))
        self.mixer = MIXERS.build(mixer) if mixer else None
        if self.mixer is not None and self.mixer.alpha_off:
            print_log(f'{type(self.mixer).__name__}: alpha=0 switches mixing off (as timm); batches pass unmixed',
                      logger='current', level=logging.WARNING)
        if getattr(self.mixer, 'guided', False):
            self.mixer.attach(self)  # network-guided mixers (ManifoldMix, PuzzleMix, ...) read the model
        self.label_assigner = MODELS.build(label_assigner or dict(type='AreaLabel'))
        self.label_assigner.attach(self.backbone)
        self.label_smoothing = label_smoothing

    def no_weight_decay(self) -> set[str]:
        """Full names of parameters exempt from weight decay (timm's ``no_weight_decay`` of the backbone)."""
        return {f'backbone.{name}' for name in self.backbone.no_weight_decay()}

    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.backbone(inputs)

    def forward(self, inputs: torch.Tensor, data_samples: dict | None = None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.head(self.extract_feat(inputs))
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    def loss(self, inputs: torch.Tensor, data_samples: dict) -> dict[str, torch.Tensor]:
        targets = smooth_one_hot(data_samples['gt_label'], self.num_classes, self.label_smoothing)
        mixed = None
        if self.mixer is not None and self.mixer.enabled:
            mixed = self.mixer(inputs, targets) if getattr(self.mixer, 'guided', False) else self.mixer(inputs)
            inputs = mixed.inputs
            self.label_assigner.prepare(mixed)
        logits = self.head(self.extract_feat(inputs))
        if mixed is not None:
            if getattr(self.label_assigner, 'needs_logits', False):  # rules whose label reads the prediction (MixPro)
                targets = self.label_assigner(targets, mixed, logits=logits)
            else:
                targets = self.label_assigner(targets, mixed)
        return dict(loss=self.criterion(logits, targets))

    def predict(self, inputs: torch.Tensor, data_samples: dict | None = None) -> list[dict]:
        """One dict per batch: ``scores`` (B, K) softmax probabilities and ``gt_label`` (B,) when given."""
        scores = self.head(self.extract_feat(inputs)).float().softmax(-1)
        out = dict(scores=scores)
        if data_samples is not None and 'gt_label' in data_samples:
            out['gt_label'] = data_samples['gt_label']
        return [out]
