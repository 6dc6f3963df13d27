"""AdAutoMix: AutoMix's pipeline with an adversarial generator that mixes two or more images.

Qin et al., "Adversarial AutoMixup", ICLR 2024 (arXiv:2312.11954), Sec. 3 (Eq. 2-4: the generator; Eq. 6-9: the
target classifier and the adversarial objective). The training step follows the official ``AdAutoMix.forward_train``
(github.com/JinXins/Adversarial-AutoMixup, ``openmixup/models/classifiers/AdAutoMix.py``).
Section and equation numbers in this file are [UNVERIFIED]: not checked against the paper's PDF in this work.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from mmengine.logging import print_log

from openmix.mixers.geometry import smooth_one_hot
from openmix.registry import MODELS

from .classifier import AutoMixClassifier

__all__ = ['AdAutoMixClassifier']


@MODELS.register_module()
class AdAutoMixClassifier(AutoMixClassifier):
    """AdAutoMix on any timm backbone: :class:`AutoMixClassifier` with the :class:`AdaptiveMaskBlock` generator.

    Modules and the EMA are AutoMix's (``backbone``/``head`` [official ``backbone_q``/``head_mix_q``], ``head_one``
    [``head_one_q``], the EMA copies ``backbone_k``/``head_k``/``head_one_k`` and the trainable ``mix_block``, here
    an ``AdaptiveMaskBlock``). One training step (official ``forward_train``):

    1. ``n`` = ``mix_samples`` images per mixture (3 in every official config; a uniform draw in
       ``2..mix_samples`` with ``is_random``), ``lam_1..lam_n ~ Beta(alpha, alpha)`` and random permutations.
       Two images (``n = 2``): as AutoMix, the generator's mixture pairs ``x`` with ``x[index_mb]`` at ``lam_1``
       and the encoder's pairs ``x`` with ``x[index_bb]`` at ``lam_2``. Three or more: both mixtures use the
       normalised weights ``lam_i / sum(lam)`` and ``n`` permutations each (none is the identity).
    2. ``z`` = ``mix_layer`` output of ``backbone_k`` on the clean batch (no gradient; the same full pass gives the
       EMA model's clean logits ``p = head_k(backbone_k(x))``). Masks ``M_mb = G(z[index_mb_i], lam)`` with gradient
       and ``M_bb = G(z[index_bb_i], lam)`` detached; ``mixed = sum_i x[index_i] * M[:, i]``. The encoder's mask
       becomes the plain weights ``lam_i`` when ``lam_1 <= lam_margin`` or ``lam_1 >= 1 - lam_margin``.
    3. Generator (through the frozen but differentiable EMA encoder): ``CE_k = CE(head_k(backbone_k(mix_mb)),
       sum_i lam_i y[index_mb_i])`` and ``cos = mean_b sum_i lam_i cos(p_mix, p[index_mb_i])``. On every other step,
       starting with the first, its loss is the adversarial ``-beta CE_k + (1 - beta) cos`` (Eq. 9: the generator
       maximises the classifier's loss, i.e. the gradient reaching it is reversed and scaled by ``beta``, and the
       cosine term keeps the mixture close to its sources' predictions); on the other steps it is ``CE_k``.
       The loss is ``loss_mix_k``; it reaches only the generator (the EMA encoder has no trainable parameters).
    4. Encoder: ``loss_mix_q = CE(head(backbone(mix_bb)), sum_i lam_i y[index_bb_i])`` and the clean
       ``loss_one_q = CE(head_one(backbone(x)), y)``; with three or more images the latter becomes
       ``(1 - mixup_ratio) loss_one_q + mixup_ratio CE(head(backbone(sum_i lam_i x[index_bb_i])),
       sum_i lam_i y[index_bb_i])`` (a plain ``n``-image Mixup term).
    5. After the optimizer step the EMA update of AutoMix (``momentum_update``, :class:`AutoMixMomentumHook`).

    There is no mask loss (``mask_loss=0``). Inference is AutoMix's (``eval_head``).

    Args:
        mix_block: generator config (default ``dict(type='AdaptiveMaskBlock')``; ``in_channels`` is inferred).
        mix_samples: images per mixture, ``n >= 2`` (3 in the official configs).
        is_random: draw ``n`` uniformly from ``2..mix_samples`` each step.
        alpha: Beta(alpha, alpha) of the lams (1.0 in the official configs).
        lam_margin: plain weights for the encoder's mixture when ``lam_1`` is this close to 0 or 1 (0.03).
        mixup_ratio: weight of the ``n``-image Mixup term in the clean loss (official ``mixup_radio``, 0.5).
        beta: weight of the reversed classification loss in the adversarial step (official ``beta_radio``, 0.3).
        adv_interval: the adversarial loss is used on steps ``0, adv_interval, 2 adv_interval, ...`` (official: 2).
        **kwargs: :class:`AutoMixClassifier` arguments (``backbone``, ``head``, ``mix_layer``, ``momentum``,
            ``switch_off``, ``eval_head``, ``fuse_q``, ``label_smoothing``, ...).

    Differences from the reference code:
        Reference: github.com/JinXins/Adversarial-AutoMixup @9d6fd12 (``classifiers/AdAutoMix.py``,
        ``heads/Ada_mix_pine.py``; OpenMixup @37e1372 ``classifiers/adautomix.py`` carries the same step). The
        generator is tested against recorded official output (:class:`AdaptiveMaskBlock`); the training step is
        written from the code and tested on its invariants (masks sum to one, the generator's gradient is the
        reversed CE gradient on adversarial steps, the encoder gets no gradient from ``loss_mix_k``), not against
        recorded output. What differs:

        - The cosine term uses the EMA model's clean logits from the feature pass, indexed by each permutation;
          the official code runs ``backbone_k`` again on each permuted batch (two or ``n`` extra passes).
          Permuting a batch leaves its predictions and batch statistics unchanged, so the term is equal up to float
          rounding; the k BatchNorm running statistics are updated once per step instead of ``n + 2`` times (they
          serve only the ``*_k`` evaluation heads). Every step; flag: none (the extra passes are not offered).
        - Random streams: the classifier's own generator (permutations, lams and ``n``), not ``torch.randperm``/
          NumPy's global state; with ``n = 3`` the official code discards nothing, with ``n > 3`` it draws and
          discards extra permutations. Same distributions, different sequences. Flag: none; not reproducible.
        - The encoder-mask margin uses all ``n`` weights; the official code overwrites channels 0-2 only (with
          ``n > 3``, channels 3.. keep the generator's mask). Never with ``mix_samples=3``; flag: none.
        - The generator's NaN guards (a NaN loss is dropped with a warning) are not reproduced: our losses are
          fp32 and a NaN reaches mmengine (and the project's non-finite guard hook). Flag: none.
        - The official ``debug``/``save`` plots of the mixtures are not produced (``tools/visualize_mix.py`` plots
          mixtures). Flag: none.
    """

    def __init__(self, backbone: dict, head: dict, mix_block: dict | None = None, mix_samples: int = 3,
                 is_random: bool = False, alpha: float = 1.0, lam_margin: float = 0.03, mixup_ratio: float = 0.5,
                 beta: float = 0.3, adv_interval: int = 2, **kwargs) -> None:
        if int(mix_samples) < 2:
            raise ValueError(f'model.mix_samples must be >= 2 (images per mixture), got {mix_samples}')
        if not 0.0 <= mixup_ratio <= 1.0 or not 0.0 <= beta <= 1.0:
            raise ValueError(f'model.mixup_ratio and model.beta must be in [0, 1], got {mixup_ratio}, {beta}')
        if int(adv_interval) < 1:
            raise ValueError(f'model.adv_interval must be >= 1, got {adv_interval}')
        for key in ('mask_loss', 'mask_adjust', 'legacy_mask_adjust'):
            if kwargs.get(key):
                raise ValueError(f'model.{key} is an AutoMix option; AdAutoMix has no mask loss or mask adjustment')
        kwargs.update(mask_loss=0.0, mask_adjust=0.0, truncate_k=False)  # the full k pass gives the clean logits
        super().__init__(backbone, head, mix_block=mix_block or dict(type='AdaptiveMaskBlock'), alpha=alpha,
                         lam_margin=lam_margin, **kwargs)
        self.mix_samples, self.is_random = int(mix_samples), bool(is_random)
        self.mixup_ratio, self.beta, self.adv_interval = float(mixup_ratio), float(beta), int(adv_interval)
        self.register_buffer('adv_step', torch.zeros((), dtype=torch.long), persistent=True)
        self._adv_count = 0  # host copy of adv_step (no device read in the step)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._adv_count = int(self.adv_step)

    # ------------------------------------------------------------------ draws and features
    def draw_mix(self, batch_size: int, device: torch.device | str = 'cpu') -> tuple[
            list[float], list[float], list[torch.Tensor], list[torch.Tensor]]:
        """``(lam_mb, lam_bb, index_mb, index_bb)``: the weights and partner indices of the generator's and the
        encoder's mixtures (``n = 2``: identity first, AutoMix's two lams; ``n > 2``: ``n`` permutations each and
        one set of normalised weights)."""
        n = int(self.rng.integers(2, self.mix_samples + 1)) if self.is_random else self.mix_samples
        perm = lambda: torch.from_numpy(self.rng.permutation(batch_size)).to(device, non_blocking=True)  # noqa: E731
        index_bb, index_mb = perm(), perm()
        lam = self.rng.beta(self.alpha, self.alpha, n)
        if n == 2:
            ident = torch.arange(batch_size, device=device)
            return ([float(lam[0]), 1 - float(lam[0])], [float(lam[1]), 1 - float(lam[1])],
                    [ident, index_mb], [ident, index_bb])
        weights = [float(v) for v in lam / lam.sum()]
        mb = [index_mb, index_bb] + [perm() for _ in range(n - 2)]
        bb = [perm() for _ in range(n)]
        return weights, list(weights), mb, bb

    @torch.no_grad()
    def k_features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, p)``: the ``(B, C, h, w)`` ``mix_layer`` output and the clean logits of the EMA model, one pass."""
        self._capture = True
        try:
            logits = self.head_k(self.backbone_k(x))
            feat = self._feature
        finally:
            self._capture, self._feature = False, None
        if feat is None:
            raise RuntimeError(f'model.mix_layer={self.mix_layer!r} was not called in the forward pass of '
                               f'{self.backbone.model_name}')
        return self._to_nchw(feat, x.shape[-2:]), logits.float()

    @staticmethod
    def mix_many(x: torch.Tensor, index: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """``sum_i x[index_i] * mask[:, i]`` for a ``(B, n, H, W)`` mask."""
        out = x.index_select(0, index[0]) * mask[:, :1]
        for i in range(1, len(index)):
            out = out + x.index_select(0, index[i]) * mask[:, i:i + 1]
        return out

    @staticmethod
    def mix_target_many(y: torch.Tensor, index: list[torch.Tensor], lam: list[float]) -> torch.Tensor:
        """``sum_i lam_i y[index_i]`` (the official ``co_loss``, ``sum_i lam_i CE(y_i)``, by linearity)."""
        out = lam[0] * y.index_select(0, index[0])
        for i in range(1, len(index)):
            out = out + lam[i] * y.index_select(0, index[i])
        return out

    # ------------------------------------------------------------------ training
    def loss(self, inputs: torch.Tensor, data_samples: dict) -> dict[str, torch.Tensor]:
        x = inputs
        y = smooth_one_hot(data_samples['gt_label'].to(x.device), self.num_classes, self.label_smoothing)
        self._ema_done = False
        self._steps_without_ema += 1
        if self._steps_without_ema == 100:
            print_log('AdAutoMixClassifier: backbone_k has not been updated for 100 training steps; under DDP the '
                      'EMA update needs AutoMixMomentumHook in custom_hooks', logger='current', level=logging.WARNING)
        lam_mb, lam_bb, index_mb, index_bb = self.draw_mix(x.shape[0], x.device)
        n = len(index_mb)
        feat, logits_clean = self.k_features_and_logits(x)
        scale = self.scale_factor(x.shape[-2:], feat.shape[-2:])
        mask_mb = self.mix_block([feat.index_select(0, i) for i in index_mb], lam_mb, scale)
        with torch.no_grad():
            mask_bb = self.mix_block([feat.index_select(0, i) for i in index_bb], lam_bb, scale)
            if self.lam_margin >= lam_bb[0] or self.lam_margin >= 1 - lam_bb[0]:
                mask_bb = torch.tensor(lam_bb, dtype=mask_bb.dtype).to(x.device).view(1, n, 1, 1).expand_as(mask_bb)

        losses = {}
        adversarial = self._adv_count % self.adv_interval == 0
        self._adv_count += 1
        self.adv_step.fill_(self._adv_count)
        # generator: through the frozen-but-differentiable EMA encoder (its only gradient)
        if not (0 < self.switch_off < 1 and self.rng.random() > self.switch_off):
            logits_k = self.head_k(self.backbone_k(self.mix_many(x, index_mb, mask_mb.to(x.dtype)))).float()
            ce_k = self.criterion(logits_k, self.mix_target_many(y, index_mb, lam_mb))
            if adversarial:
                cos = sum(lam_mb[i] * F.cosine_similarity(logits_k, logits_clean.index_select(0, index_mb[i]), dim=-1)
                          for i in range(n)).mean()
                losses['loss_mix_k'] = -self.beta * ce_k + (1 - self.beta) * cos
            else:
                losses['loss_mix_k'] = ce_k
        # encoder: mixture of the (detached) generator, clean images and, for n > 2, an n-image Mixup
        head_one = self.head if self.head_one is None else self.head_one
        mix_bb = self.mix_many(x, index_bb, mask_bb.to(x.dtype))
        batches = [x, mix_bb]
        if n > 2:
            batches.append(self.mix_many(x, index_bb, torch.tensor(lam_bb, dtype=x.dtype).to(x.device)
                                         .view(1, n, 1, 1).expand(x.shape[0], n, 1, 1)))
        if self.fuse_q:
            feats = self.backbone(torch.cat(batches)).chunk(len(batches))
        else:
            feats = [self.backbone(b) for b in batches]
        y_bb = self.mix_target_many(y, index_bb, lam_bb)
        loss_one = self.criterion(head_one(feats[0]), y)
        if n > 2:
            loss_one = (1 - self.mixup_ratio) * loss_one + self.mixup_ratio * self.criterion(self.head(feats[2]), y_bb)
        losses['loss_one_q'] = loss_one
        losses['loss_mix_q'] = self.criterion(self.head(feats[1]), y_bb)
        return losses

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, mix_samples={self.mix_samples}, is_random={self.is_random}, '
                f'mixup_ratio={self.mixup_ratio}, beta={self.beta}, adv_interval={self.adv_interval}')
