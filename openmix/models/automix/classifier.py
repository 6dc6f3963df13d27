"""AutoMix / SAMix classifier: a learned MixBlock trained through a momentum (EMA) encoder.

Liu et al., "AutoMix: Unveiling the Power of Mixup for Stronger Classifiers", ECCV 2022 (Sec. 3.3, Eq. 9-10), and
Li et al., "Boosting Discriminative Visual Representation Learning with Scenario-Agnostic Mixup" (SAMix). The
training step is written from OpenMixup's ``AutoMixup`` (``openmixup/models/classifiers/automix.py``); it is not
tested against recorded OpenMixup output (see "Differences from the reference code" in :class:`AutoMixClassifier`).
"""
from __future__ import annotations

import copy
import difflib
import logging

import numpy as np
import torch
from mmengine.logging import print_log
from torch import nn

from openmix.mixers.base import default_seed
from openmix.mixers.geometry import smooth_one_hot
from openmix.models.classifier import ImageClassifier
from openmix.registry import MODELS

__all__ = ['AutoMixClassifier']

EVAL_HEADS = ('head', 'head_one', 'head_k', 'head_one_k')


class _FeatureCaptured(Exception):
    """Raised by the capture hook to end a truncated forward of ``backbone_k`` at ``mix_layer``."""


def _optimizer_stepped(optim_wrapper) -> bool:
    """Whether the last ``update_params`` stepped the optimizer (False inside a gradient-accumulation window)."""
    should_update = getattr(optim_wrapper, 'should_update', None)
    return should_update() if callable(should_update) else True


@MODELS.register_module()
class AutoMixClassifier(ImageClassifier):
    """AutoMix (and SAMix, with ``mix_block=dict(type='SAMixBlock', ...)``) on any timm backbone.

    Modules (OpenMixup names in brackets): ``backbone`` + ``head`` [``backbone_q``, ``head_mix_q``] are trained on
    the MixBlock's mixtures; ``head_one`` [``head_one_q``] is trained on the clean images (a second head of the
    same config unless ``share_head``); ``backbone_k``, ``head_k`` [``head_mix_k``] and ``head_one_k`` are EMA
    copies with ``requires_grad=False``; ``mix_block`` is the trainable :class:`MixBlock`.

    One training step (AutoMix Sec. 3.3, ``AutoMixup.forward_train``):

    1. Two independent draws from ``self.rng``: ``lam_mb, lam_bb ~ Beta(alpha, alpha)`` and two permutations
       (``index_bb`` then ``index_mb``), one pair for the MixBlock and one for the backbone.
    2. ``z`` = the output of module ``mix_layer`` of ``backbone_k`` on the clean batch (a forward hook on the stock
       timm model; ViT tokens are reshaped to their grid without the prefix tokens), without gradient (the pass
       stops there when ``truncate_k``).
    3. ``m_mb = mix_block(z, lam_mb, index_mb)`` with gradient and ``m_bb = mix_block(z, lam_bb, index_bb)``
       detached. ``m_bb`` is optionally pulled towards its lam (``mask_adjust``) and becomes plain Mixup
       (``m = 1 - lam_bb`` everywhere) when ``lam_bb <= lam_margin`` or ``lam_bb >= 1 - lam_margin``.
    4. Losses (each weighted 1, summed by mmengine): ``loss_mix_k`` = CE of ``head_k(backbone_k(mix_mb))`` against
       ``lam_mb y + (1 - lam_mb) y[index_mb]``: the EMA encoder has no trainable parameters but is differentiable,
       so this gradient reaches only the MixBlock; ``loss_mask = mask_loss * mix_block.mask_loss(m_mb, lam_mb)``;
       ``loss_one_q`` = CE of ``head_one(backbone(x))`` on ``y``; ``loss_mix_q`` = CE of ``head(backbone(mix_bb))``
       on the ``lam_bb`` label (one pass over both batches when ``fuse_q``). The mixed label always uses the
       sampled lam, not the mask's mean.
    5. After the optimizer step: ``p_k = m p_k + (1 - m) p_q`` over the parameters of the backbone and both heads
       (``momentum_update``, in :meth:`train_step`; under DDP, whose wrapper bypasses ``train_step``, the
       :class:`AutoMixMomentumHook` does it). ``m`` is ``momentum`` until the hook schedules it. Like OpenMixup's
       code, buffers are not averaged: ``backbone_k`` runs in train mode and keeps its own BatchNorm statistics.

    The MixBlock and its loss run in fp32 with autocast off; every cross-entropy is computed on fp32 logits.
    Inference uses ``eval_head``: ``'head'`` (``backbone`` + ``head``, default), ``'head_one'``, ``'head_k'``
    or ``'head_one_k'`` (those two on ``backbone_k``); OpenMixup logs all four and reports the best median.

    Args:
        backbone: ``TimmBackbone`` config.
        head: classification head config (``in_channels`` defaults to the backbone's width).
        mix_block: ``MixBlock``/``SAMixBlock`` config; ``in_channels`` defaults to the width of ``mix_layer``
            from the timm model's ``feature_info``.
        loss: loss on soft targets (default ``SoftTargetCrossEntropy``) shared by the four classification terms.
        head_one: config of the clean-image head (default: the ``head`` config, built separately, like OpenMixup's
            ``head_one``).
        share_head: train ``head`` on the clean images too (no ``head_one``); not what OpenMixup does.
        mix_layer: name of the module of the timm model whose output feeds the MixBlock: ``'layer3'`` for ResNets
            (stage 3, OpenMixup ``mask_layer=2``), ``'blocks.5'`` for DeiT-S (block 6), ``'stages.2'`` for
            ConvNeXt, ``'layers.2'`` for Swin.
        alpha: Beta(alpha, alpha) of both lams (2.0 in every official config).
        momentum: base EMA momentum of the k encoder (0.999).
        mask_loss: weight of the mask loss (0.1; cosine-annealed to 0 on ImageNet by ``AttrCosineAnnealingHook``).
        lam_margin: backbone mixtures with ``lam_bb`` or ``1 - lam_bb <= lam_margin`` use plain Mixup (0.08).
        mask_adjust: probability of rescaling ``m_bb`` per sample so its mean matches lam (SAMix CIFAR 0.25).
        legacy_mask_adjust: rescale towards ``lam_mb`` like OpenMixup's code (it uses ``lam[0]``), not ``lam_bb``.
        switch_off: the MixBlock loss ``loss_mix_k`` is computed with probability ``switch_off`` (0 or 1: always;
            0.8 for ViTs on ImageNet). Skipped steps leave parameters unused (``find_unused_parameters=True``).
        eval_head: head (and encoder) used by :meth:`predict`.
        fuse_q: run ``backbone`` once on the concatenated clean and mixed batches (2B images) instead of twice.
            Identical results for backbones without batch statistics (ViTs: LayerNorm), fewer and larger kernels;
            with BatchNorm it would normalise clean and mixed images together, which OpenMixup does not do.
            ``None`` (default): on exactly when the backbone has no BatchNorm layer.
        truncate_k: stop the clean forward of ``backbone_k`` after ``mix_layer`` (DeiT-S block 6 of 12: half of
            that pass). Identical masks; with BatchNorm the k running statistics after ``mix_layer`` would see only
            the MixBlock's mixtures (they feed only the ``*_k`` heads' evaluation). ``None``: on exactly when the
            backbone has no BatchNorm layer.
        label_smoothing: epsilon of the one-hot targets (0 for CNNs, 0.1 for DeiT, OpenMixup's ``LabelSmoothLoss``
            setting), applied before mixing.
        data_preprocessor: ``ClsDataPreprocessor`` config.
        seed: generator seed (default: derived from the run seed and the rank).
        init_cfg: mmengine init config; after it is applied, the k copies are reset to the q weights.

    Differences from the reference code:
        Reference: OpenMixup @37e1372 (``classifiers/automix.py``, ``heads/pmix_block.py``,
        ``core/hooks/momentum_hook.py``, ``core/hooks/addtional_scheduler.py``). Nothing here is tested against
        recorded OpenMixup output: the MixBlock is tested against an einsum re-derivation of ``PixelMixBlock``
        (``tests/models/test_automix.py``), the EMA and schedules against formulas read from its code. What
        differs from that code:

        - ``mask_adjust`` rescales ``m_bb`` towards ``lam_bb``; OpenMixup towards ``lam[0]``, i.e. ``lam_mb``, an
          independent draw (Beta(2, 2): 0.26 apart on average, more than 0.1 apart in 76 % of steps). Never with
          the defaults (``mask_adjust=0``); in 25 % of steps of the SAMix CIFAR configs (0.25). Flag:
          ``legacy_mask_adjust=True``.
        - The ``mask_loss`` cosine (``AttrCosineAnnealingHook``) follows the stated schedule; OpenMixup's hook
          compounds it from the current value, so on ImageNet/DeiT runs the weight is below 1e-3 of its start
          after about 2.6 of 100 epochs (every iteration differs after the first). CIFAR configs have no such hook.
          Flag: ``AttrCosineAnnealingHook(legacy_compound=True)`` (after a resume it continues, where OpenMixup
          restarts from ``start``: none; not reproducible).
        - Evaluation: one head per run (``eval_head``, default ``'head'``); OpenMixup evaluates all four and its
          tables report the best. Every evaluation. Flag: ``eval_head`` for each of the four; "best of four"
          itself: none; not reproducible in one run.
        - ``fuse_q``/``truncate_k`` (on by default only for backbones without BatchNorm, i.e. ViTs) change the
          order of the computation, not the result (up to float rounding; not measured against OpenMixup). Flag:
          ``fuse_q=False``, ``truncate_k=False``.
        - Backbones: stock timm models with a forward hook at ``mix_layer`` (ViT tokens reshaped without prefix
          tokens) instead of OpenMixup's own backbones; equality of the networks is not tested. Flag: none; not
          reproducible.
        - Random streams: the classifier's own generator (same order: both lams, ``index_bb``, ``index_mb``), not
          the global NumPy/torch RNGs; same distributions, different sequences. Flag: none; not reproducible.
        - ``share_head=True`` trains one head on clean and mixed images; off by default (OpenMixup's two heads).
    """

    def __init__(self, backbone: dict, head: dict, mix_block: dict, loss: dict | None = None,
                 head_one: dict | None = None, share_head: bool = False, mix_layer: str = 'layer3',
                 alpha: float = 2.0, momentum: float = 0.999, mask_loss: float = 0.1, lam_margin: float = 0.08,
                 mask_adjust: float = 0.0, legacy_mask_adjust: bool = False, switch_off: float = 0.0,
                 eval_head: str = 'head', fuse_q: bool | None = None, truncate_k: bool | None = None,
                 label_smoothing: float = 0.0, data_preprocessor: dict | None = None, seed: int | None = None,
                 init_cfg: dict | list | None = None) -> None:
        if alpha <= 0:
            raise ValueError(f'model.alpha must be > 0, got {alpha}')
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f'model.momentum must be in [0, 1], got {momentum}')
        if not 0.0 <= lam_margin < 0.5:
            raise ValueError(f'model.lam_margin must be in [0, 0.5), got {lam_margin}')
        if not 0.0 <= mask_adjust <= 1.0 or not 0.0 <= switch_off <= 1.0:
            raise ValueError(f'model.mask_adjust and model.switch_off must be in [0, 1], got {mask_adjust}, '
                             f'{switch_off}')
        if mask_loss < 0:
            raise ValueError(f'model.mask_loss must be >= 0, got {mask_loss}')
        if eval_head not in EVAL_HEADS or (share_head and eval_head in ('head_one', 'head_one_k')):
            raise ValueError(f'model.eval_head must be one of {EVAL_HEADS[:2] if share_head else EVAL_HEADS} '
                             f'(head_one* exist unless share_head), got {eval_head!r}')
        super().__init__(backbone, head, loss=loss, label_smoothing=label_smoothing,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not hasattr(self.backbone, 'model'):
            raise ValueError('AutoMixClassifier reads the MixBlock features with a forward hook on a timm model: '
                             'model.backbone must be a TimmBackbone')
        self.head_one = None
        if not share_head:
            head_one = dict(head if head_one is None else head_one)
            head_one.setdefault('in_channels', self.backbone.num_features)
            self.head_one = MODELS.build(head_one)
        # the momentum encoder starts as a copy of q (OpenMixup copies the parameters after init)
        self.backbone_k = copy.deepcopy(self.backbone).requires_grad_(False)
        self.head_k = copy.deepcopy(self.head).requires_grad_(False)
        self.head_one_k = None if self.head_one is None else copy.deepcopy(self.head_one).requires_grad_(False)

        timm_k = self.backbone_k.model
        self.mix_layer = mix_layer
        try:
            layer = timm_k.get_submodule(mix_layer)
        except AttributeError:
            names = [n for n, _ in timm_k.named_modules() if n]
            close = difflib.get_close_matches(mix_layer, names, n=5, cutoff=0.5)
            hint = [f['module'] for f in getattr(timm_k, 'feature_info', [])]
            raise KeyError(f'model.mix_layer={mix_layer!r} is not a module of {self.backbone.model_name}; '
                           f'feature modules: {hint}; similar names: {close}') from None
        mix_block = dict(mix_block)
        if mix_block.get('in_channels') is None:
            info = {f['module']: f['num_chs'] for f in getattr(timm_k, 'feature_info', [])}
            if mix_layer not in info:
                raise KeyError(f'cannot infer the MixBlock width of model.mix_layer={mix_layer!r} (not in the '
                               f'feature_info of {self.backbone.model_name}: {sorted(info)}); set '
                               f'model.mix_block.in_channels')
            mix_block['in_channels'] = info[mix_layer]
        self.mix_block = MODELS.build(mix_block)

        self.alpha = float(alpha)
        self.momentum = self.base_momentum = float(momentum)
        self.mask_loss = float(mask_loss)
        self.lam_margin = float(lam_margin)
        self.mask_adjust, self.legacy_mask_adjust = float(mask_adjust), legacy_mask_adjust
        self.switch_off = float(switch_off)
        self.eval_head = eval_head
        batch_stats = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.backbone.modules())
        self.fuse_q = not batch_stats if fuse_q is None else bool(fuse_q)
        self.truncate_k = not batch_stats if truncate_k is None else bool(truncate_k)
        self.rng = np.random.default_rng(default_seed() if seed is None else seed)
        self._capture = False
        self._feature: torch.Tensor | None = None
        self._ema_done = True  # False between a training forward and the EMA update that follows its step
        self._steps_without_ema = 0
        layer.register_forward_hook(self._capture_hook)

    # ------------------------------------------------------------------ state
    def get_rng_state(self) -> dict:
        """Generator state as plain Python types (checkpointed by ``RandomStateHook``)."""
        return self.rng.bit_generator.state

    def set_rng_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def _pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        pairs = [(self.backbone, self.backbone_k), (self.head, self.head_k)]
        if self.head_one is not None:
            pairs.append((self.head_one, self.head_one_k))
        return pairs

    @torch.no_grad()
    def copy_q_to_k(self) -> None:
        """Reset the k copies to the weights (and buffers) of q."""
        for q, k in self._pairs():
            for pk, pq in zip(k.state_dict().values(), q.state_dict().values()):
                pk.copy_(pq)

    def init_weights(self) -> None:
        """mmengine's init (``init_cfg``) followed by the copy q -> k, like OpenMixup's ``init_weights``."""
        super().init_weights()
        self.copy_q_to_k()

    @torch.no_grad()
    def momentum_update(self) -> None:
        """``p_k = m * p_k + (1 - m) * p_q`` over the parameters of the backbone and the heads (m >= 1: no update).

        Written as OpenMixup's ``param_k * m + param_q * (1 - m)`` with fused multi-tensor ops, on the device.
        """
        self._ema_done = True
        self._steps_without_ema = 0
        m = self.momentum
        if m >= 1.0:
            return
        ks, qs = [], []
        for q, k in self._pairs():
            for pq, pk in zip(q.parameters(), k.parameters()):
                qs.append(pq.detach())
                ks.append(pk)
        torch._foreach_mul_(ks, m)
        torch._foreach_add_(ks, torch._foreach_mul(qs, 1.0 - m))

    def train_step(self, data, optim_wrapper) -> dict[str, torch.Tensor]:
        """mmengine's step (forward, backward, optimizer) followed by the EMA update when the optimizer stepped."""
        log_vars = super().train_step(data, optim_wrapper)
        if _optimizer_stepped(optim_wrapper):
            self.momentum_update()
        return log_vars

    # ------------------------------------------------------------------ features and masks
    def _capture_hook(self, module: nn.Module, inputs, output) -> None:
        if self._capture:
            self._feature = output[0] if isinstance(output, (tuple, list)) else output
            if self.truncate_k:
                raise _FeatureCaptured

    def _to_nchw(self, feat: torch.Tensor, img_hw: tuple[int, int]) -> torch.Tensor:
        timm_k = self.backbone_k.model
        if feat.dim() == 4:
            return feat.permute(0, 3, 1, 2) if getattr(timm_k, 'output_fmt', 'NCHW') == 'NHWC' else feat
        if feat.dim() != 3:
            raise ValueError(f'model.mix_layer={self.mix_layer!r} returned a {feat.dim()}-D tensor; the MixBlock '
                             f'needs (B, C, H, W) maps or (B, N, C) tokens')
        tokens = feat[:, getattr(timm_k, 'num_prefix_tokens', 0):]
        patch = getattr(getattr(timm_k, 'patch_embed', None), 'patch_size', None)
        if patch is None:
            raise ValueError(f'cannot find the token grid of {self.backbone.model_name} (no patch_embed.patch_size)')
        gh, gw = img_hw[0] // patch[0], img_hw[1] // patch[1]
        if gh * gw != tokens.shape[1]:
            raise ValueError(f'model.mix_layer={self.mix_layer!r}: {tokens.shape[1]} tokens do not form the '
                             f'{gh}x{gw} patch grid of a {img_hw[0]}x{img_hw[1]} image')
        return tokens.reshape(tokens.shape[0], gh, gw, tokens.shape[2]).permute(0, 3, 1, 2)

    @torch.no_grad()
    def mix_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` output of ``mix_layer`` of ``backbone_k`` on ``x`` without gradient: a full forward in
        the current mode, so the k BatchNorm statistics move as in OpenMixup, or up to ``mix_layer`` only
        (``truncate_k``)."""
        self._capture = True
        try:
            try:
                self.backbone_k(x)
            except _FeatureCaptured:
                pass
            feat = self._feature
        finally:
            self._capture, self._feature = False, None
        if feat is None:
            raise RuntimeError(f'model.mix_layer={self.mix_layer!r} was not called in the forward pass of '
                               f'{self.backbone.model_name}')
        return self._to_nchw(feat, x.shape[-2:])

    @staticmethod
    def scale_factor(img_hw: tuple[int, int], feat_hw: tuple[int, int]) -> tuple[int, int]:
        """Integer upsampling factor from the feature grid to the image (OpenMixup: ``2 ** (2 + mask_layer)`` on
        224 px, ``2 ** mask_layer`` on CIFAR; the same numbers, read from the shapes)."""
        sh, sw = img_hw[0] // feat_hw[0], img_hw[1] // feat_hw[1]
        if sh * feat_hw[0] != img_hw[0] or sw * feat_hw[1] != img_hw[1]:
            raise ValueError(f'the {img_hw[0]}x{img_hw[1]} image is not an integer multiple of the '
                             f'{feat_hw[0]}x{feat_hw[1]} MixBlock features; pick another model.mix_layer or size')
        return sh, sw

    def draw(self, batch_size: int, device: torch.device | str = 'cpu') -> tuple[float, float, torch.Tensor,
                                                                                 torch.Tensor]:
        """``(lam_mb, lam_bb, index_mb, index_bb)`` from ``self.rng`` (OpenMixup's order: both lams, then
        ``index_bb``, then ``index_mb``)."""
        lam_mb, lam_bb = (float(v) for v in self.rng.beta(self.alpha, self.alpha, 2))
        index_bb = torch.from_numpy(self.rng.permutation(batch_size)).to(device, non_blocking=True)
        index_mb = torch.from_numpy(self.rng.permutation(batch_size)).to(device, non_blocking=True)
        return lam_mb, lam_bb, index_mb, index_bb

    @torch.no_grad()
    def backbone_mask(self, feat: torch.Tensor, lam_bb: float, index_bb: torch.Tensor, lam_mb: float,
                      scale_factor: tuple[int, int]) -> torch.Tensor:
        """Detached partner weight of the backbone's mixture, with ``mask_adjust`` and ``lam_margin`` applied."""
        mask = self.mix_block(feat, lam_bb, index_bb, scale_factor)
        if self.mask_adjust > 0 and self.mask_adjust > self.rng.random():
            # OpenMixup `mask_adjust`: rescale the larger side so the mean weight of A equals lam
            lam = lam_mb if self.legacy_mask_adjust else lam_bb
            eps = 1e-8
            weight_a = (1 - mask).clamp(eps, 1 - eps)
            mean_a = weight_a.mean(dim=(1, 2, 3), keepdim=True)
            shrink_a = 1 - weight_a * (lam / mean_a)  # mean of A above lam: scale A's weight down
            shrink_b = (1 - weight_a) * ((1 - lam) / (1 - mean_a))  # below lam: scale B's weight down
            mask = torch.where(mean_a > lam + eps, shrink_a, torch.where(mean_a < lam - eps, shrink_b, mask))
        if self.lam_margin >= lam_bb or self.lam_margin >= 1 - lam_bb:
            mask = torch.full_like(mask, 1 - lam_bb)  # plain Mixup for extreme lams
        return mask

    @staticmethod
    def mix(x: torch.Tensor, index: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x * (1 - m) + x[index] * m`` with the partner weight ``m`` (B, 1, H, W)."""
        return x * (1 - mask) + x.index_select(0, index) * mask

    # ------------------------------------------------------------------ training and inference
    def loss(self, inputs: torch.Tensor, data_samples: dict) -> dict[str, torch.Tensor]:
        x = inputs
        y = smooth_one_hot(data_samples['gt_label'].to(x.device), self.num_classes, self.label_smoothing)
        self._ema_done = False
        self._steps_without_ema += 1
        if self._steps_without_ema == 100:
            print_log('AutoMixClassifier: backbone_k has not been updated for 100 training steps; under DDP the '
                      'EMA update needs AutoMixMomentumHook in custom_hooks', logger='current',
                      level=logging.WARNING)
        lam_mb, lam_bb, index_mb, index_bb = self.draw(x.shape[0], x.device)
        feat = self.mix_features(x)
        scale = self.scale_factor(x.shape[-2:], feat.shape[-2:])
        mask_mb = self.mix_block(feat, lam_mb, index_mb, scale)
        mask_bb = self.backbone_mask(feat, lam_bb, index_bb, lam_mb, scale)

        losses = {}
        if self.mask_loss > 0:
            losses['loss_mask'] = self.mask_loss * self.mix_block.mask_loss(mask_mb, lam_mb)
        # MixBlock: CE of the frozen-but-differentiable EMA encoder on the MixBlock's mixture
        if not (0 < self.switch_off < 1 and self.rng.random() > self.switch_off):
            logits_k = self.head_k(self.backbone_k(self.mix(x, index_mb, mask_mb.to(x.dtype))))
            losses['loss_mix_k'] = self.criterion(logits_k, lam_mb * y + (1 - lam_mb) * y[index_mb])
        # encoder: clean one-hot CE and CE on the backbone's (detached) mixture
        head_one = self.head if self.head_one is None else self.head_one
        mix_bb = self.mix(x, index_bb, mask_bb.to(x.dtype))
        if self.fuse_q:
            feat_one, feat_mix = self.backbone(torch.cat([x, mix_bb])).chunk(2)
        else:
            feat_one, feat_mix = self.backbone(x), self.backbone(mix_bb)
        losses['loss_one_q'] = self.criterion(head_one(feat_one), y)
        logits_q = self.head(feat_mix)
        losses['loss_mix_q'] = self.criterion(logits_q, lam_bb * y + (1 - lam_bb) * y[index_bb])
        return losses

    def predict(self, inputs: torch.Tensor, data_samples: dict | None = None) -> list[dict]:
        """One dict per batch: ``scores`` (B, K) softmax of ``eval_head`` and ``gt_label`` when given."""
        backbone = self.backbone_k if self.eval_head.endswith('_k') else self.backbone
        head = getattr(self, self.eval_head)
        out = dict(scores=head(backbone(inputs)).float().softmax(-1))
        if data_samples is not None and 'gt_label' in data_samples:
            out['gt_label'] = data_samples['gt_label']
        return [out]

    def extra_repr(self) -> str:
        return (f'mix_layer={self.mix_layer!r}, alpha={self.alpha}, momentum={self.momentum}, '
                f'mask_loss={self.mask_loss}, lam_margin={self.lam_margin}, mask_adjust={self.mask_adjust}, '
                f'switch_off={self.switch_off}, eval_head={self.eval_head!r}, fuse_q={self.fuse_q}, '
                f'truncate_k={self.truncate_k}')
