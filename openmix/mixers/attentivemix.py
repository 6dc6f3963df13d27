"""Attentive CutMix: Walawalkar et al., "Attentive CutMix: An Enhanced Data Augmentation Approach for Deep Learning
Based Image Classification", ICASSP 2020 (https://arxiv.org/abs/2003.13048); and OpenMixup's "AttentiveMix+"."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch import nn

from openmix.registry import MIXERS

from .base import BaseMixer, MixedBatch, MixParams, keep_self_pairs

__all__ = ['AttentiveMix', 'load_frozen_cnn']


def load_frozen_cnn(model_name: str, checkpoint: str | None) -> nn.Module:
    """A timm CNN with the weights of the local file ``checkpoint`` (``weights_only``), in eval mode, frozen.

    Accepts a plain state dict, one under ``state_dict``/``model``, DataParallel ``module.`` keys and openmix
    classifier checkpoints (``backbone.model.`` keys); classifier weights (``fc``/``head``/``classifier``) are ignored.
    """
    if checkpoint is None:
        raise ValueError('AttentiveMix needs a pretrained network: set `mixer.checkpoint` to a local file of '
                         f'{model_name!r} weights (nothing is downloaded)')
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f'AttentiveMix: `mixer.checkpoint` file not found: {str(path)!r} (a local file of '
                                f'{model_name!r} weights; nothing is downloaded)')
    if not timm.is_model(model_name.split('.')[0]):
        raise KeyError(f'AttentiveMix: unknown timm model `mixer.model_name={model_name!r}`')
    net = timm.create_model(model_name, pretrained=False, num_classes=0)
    state = torch.load(path, map_location='cpu', weights_only=True)
    for key in ('state_dict', 'model'):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if state and all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    if any(k.startswith('backbone.model.') for k in state):
        state = {k[len('backbone.model.'):]: v for k, v in state.items() if k.startswith('backbone.model.')}
    missing, unexpected = net.load_state_dict(state, strict=False)
    unexpected = [k for k in unexpected if not k.startswith(('fc.', 'head', 'classifier'))]
    if missing or unexpected:
        raise KeyError(f'AttentiveMix: {str(path)!r} does not hold {model_name!r} weights (`mixer.checkpoint` / '
                       f'`mixer.model_name`): missing {missing[:5]}, unexpected {unexpected[:5]}')
    return net.eval().requires_grad_(False)


@MIXERS.register_module()
class AttentiveMix(BaseMixer):
    """Cell-grid CutMix guided by a frozen pretrained CNN (paper Sec. 2; OpenMixup ``attentivemix.py``).

    The scored image goes through the pretrained network (resized to ``feat_size``, as OpenMixup does); its final
    feature map, averaged over channels and pooled to ``grid x grid`` cells (7 x 7 at 224 px for a ResNet), ranks the
    cells. The ``top_k`` highest cells come from the scored image, the rest from the other one; the mask is the cell
    grid upsampled to the image by nearest neighbour, and the label weight is exact:
    ``lam = 1 - (partner's pixels) / (H * W)`` per sample.

    Which image is scored: ``scored='self'`` (default) follows the official code (``AttentiveInputTransform`` scores
    the sample and pastes its top cells onto a random image, label weight ``k / 49`` for the sample) and OpenMixup
    (the sample keeps its own top cells, the partner fills the rest). ``scored='partner'`` scores the partner and
    pastes its top cells onto the sample, so ``lam = 1 - pasted area``. With random pairing both give the same batch
    distribution; only which label is called ``lam`` differs.

    ``top_k``: the paper's fixed N = 6 of 49 cells, or None for OpenMixup's "AttentiveMix+": ``lam ~ Beta(alpha,
    alpha)`` per batch (the code; its docs say Beta(alpha, 8)) and ``k = min(max(1, int(grid^2 * lam)), grid^2)``.

    The frozen network is not a submodule: it stays out of ``state_dict`` (checkpoints hold no copy of the pretrained
    weights, which can always be reloaded from ``checkpoint``), out of ``parameters()`` (no optimizer or DDP sees it)
    and in eval mode whatever ``model.train()`` does (BN statistics never change). It moves to the input's device on
    first use. Whole-batch method: ``RandomMix`` accepts it in ``mode='batch'``.

    ``legacy_train_bn=True`` reproduces OpenMixup, whose pretrained network is an ordinary submodule left in train
    mode: its BatchNorm layers normalise with the statistics of the (resized) training batch, which changes the
    ranking of the cells. The running statistics are not updated here (they are never used in that mode).

    Args:
        checkpoint: Local file of ``model_name`` weights (required; loaded with ``weights_only=True``).
        model_name: timm CNN that scores the cells (paper: ResNet-50; OpenMixup configs: ResNet-18).
        alpha: Beta concentration of lam when ``top_k`` is None (OpenMixup configs: 2).
        top_k: Number of cells from the scored image (paper: 6), or None to derive it from lam (OpenMixup).
        grid: Cells per side (paper: 7); None uses the feature map's own size (OpenMixup).
        feat_size: Side the scored images are resized to (bilinear) before the network (OpenMixup: 224); None keeps
            the input size.
        scored: ``'self'`` (official code, OpenMixup) or ``'partner'``, see above.
        legacy_train_bn: BatchNorm of the pretrained network on batch statistics, as OpenMixup (see above).
        legacy_shared_lam: Give every sample the pixel share of sample 0's mask, as OpenMixup (see below).
        prob, pairing, seed: See ``BaseMixer`` (pairing ``'perm'`` as OpenMixup).

    Differences from the reference code (OpenMixup ``augments/attentivemix.py``; the mixing step is tested against
    its recorded output in ``tests/fixtures/reference/attentivemix.npz``):
        - Label weight: OpenMixup gives the whole batch ``lam`` = the pixel share of sample 0's own cells; ours is
          each sample's own share. They differ whenever nearest upsampling makes cells of unequal size, i.e. when
          the image side is not a multiple of the grid. Measured (200 batches of 100, 7 x 7 grid, OpenMixup+
          lam ~ Beta(2, 2), random feature maps): at 32 px (CIFAR rows) 95 % of samples get a different lam, by up
          to 0.0625 (mean 0.011); at 64 px (Tiny-ImageNet) 86 %, up to 0.020; at 224 px never. ``legacy_shared_lam=True`` restores OpenMixup (set in the
          ``configs/mixups/*_attentivemix.py`` rows).
        - BatchNorm of the pretrained network: OpenMixup runs it in train mode (batch statistics); ours in eval
          mode. Every batch differs (the cell ranking moves); ``legacy_train_bn=True`` restores it (set in the rows).
        - The official Attentive CutMix code (xden2331/attentive_cutmix) pastes the sample's top cells onto another
          image with a fixed ``k = 6`` and label weight ``6 / 49``: ``top_k=6``; its random partner and which image
          is called the sample are distributionally the same as ``scored='self'``. Not compared with recorded
          output.
        - Randomness: our own seeded generator (per rank, checkpointed) instead of NumPy's and torch's global ones:
          the same distributions, not the same draws.
    """

    name = 'attentivemix'
    supports_per_sample = False

    def __init__(self, checkpoint: str | None = None, model_name: str = 'resnet50', alpha: float = 2.0,
                 top_k: int | None = None, grid: int | None = 7, feat_size: int | None = 224, scored: str = 'self',
                 legacy_train_bn: bool = False, legacy_shared_lam: bool = False, prob: float = 1.0,
                 pairing: str = 'perm', seed: int | None = None) -> None:
        super().__init__(alpha=alpha, prob=prob, pairing=pairing, seed=seed)
        if scored not in ('self', 'partner'):
            raise ValueError(f"AttentiveMix: `mixer.scored` must be 'self' or 'partner', got {scored!r}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f'AttentiveMix: `mixer.top_k` must be a positive int or None, got {top_k!r}')
        if grid is not None and (not isinstance(grid, int) or grid < 1):
            raise ValueError(f'AttentiveMix: `mixer.grid` must be a positive int or None, got {grid!r}')
        if grid is not None and top_k is not None and top_k > grid * grid:
            raise ValueError(f'AttentiveMix: `mixer.top_k={top_k}` exceeds the {grid}x{grid} cells of `mixer.grid`')
        self.model_name = model_name
        self.checkpoint = checkpoint
        self.top_k, self.grid, self.feat_size, self.scored = top_k, grid, feat_size, scored
        self.legacy_train_bn = bool(legacy_train_bn)
        self.legacy_shared_lam = bool(legacy_shared_lam)
        net = load_frozen_cnn(model_name, checkpoint)
        if self.legacy_train_bn:
            for module in net.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.track_running_stats = False  # batch statistics in train mode, buffers left as loaded
            net.train()
        # not registered as a submodule: see the class docstring
        object.__setattr__(self, '_net', net)

    @property
    def draws_beta(self) -> bool:
        """lam (and so ``alpha``) only matters for AttentiveMix+ (``top_k=None``)."""
        return self.top_k is None

    @property
    def net(self) -> nn.Module:
        """The frozen pretrained network (not a submodule)."""
        return self._net

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` final feature map of the frozen network for images ``x``."""
        net = self._net
        param = next(net.parameters())
        if param.device != x.device:
            net.to(x.device)
            param = next(net.parameters())
        if net.training != self.legacy_train_bn:  # e.g. someone called .train()/.eval() on it directly
            net.train(self.legacy_train_bn)
        x = x.to(param.dtype)
        if self.feat_size is not None and x.shape[-2] != self.feat_size:
            size = (self.feat_size, int(x.shape[-1] * self.feat_size / x.shape[-2]))
            x = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
        feats = net.forward_features(x)
        if feats.dim() != 4:
            raise ValueError(f'AttentiveMix: {self.model_name!r} gives features of shape {tuple(feats.shape)}, not a '
                             f'(B, C, h, w) map; use a CNN as `mixer.model_name`')
        return feats

    def cell_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, g, g)`` channel-mean attention of the images ``x`` on the cell grid."""
        att = self.features(x).float().mean(1, keepdim=True)
        if self.grid is not None and tuple(att.shape[-2:]) != (self.grid, self.grid):
            att = F.adaptive_avg_pool2d(att, self.grid)
        return att[:, 0]

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        return MixParams(self.sample_lam(rng, n))

    def num_cells(self, lam: float, cells: int) -> int:
        """Cells taken from the scored image: ``top_k``, or OpenMixup's ``min(max(1, int(cells * lam)), cells)``."""
        if self.top_k is not None:
            if self.top_k > cells:
                raise ValueError(f'AttentiveMix: `mixer.top_k={self.top_k}` exceeds the {cells} cells of the grid')
            return self.top_k
        return min(max(1, int(cells * lam)), cells)

    def mix_whole_batch_with(self, owner: BaseMixer, x: torch.Tensor, params: MixParams) -> MixedBatch:
        b, (h, w) = x.shape[0], x.shape[-2:]
        index = owner.partner_index(b, x.device)
        partners = x.index_select(0, index)
        scores = self.cell_scores(x if self.scored == 'self' else partners)
        gh, gw = scores.shape[-2:]
        k = self.num_cells(float(params.lam[0]), gh * gw)
        top = scores.flatten(1).topk(k, dim=1).indices
        cells = torch.zeros(b, gh * gw, device=x.device).scatter_(1, top, 1.0).view(b, 1, gh, gw)
        top_px = F.interpolate(cells, size=(h, w), mode='nearest') > 0.5  # pixels of the scored image's top cells
        from_partner = ~top_px if self.scored == 'self' else top_px
        mixed = torch.where(from_partner, partners, x)
        lam = 1.0 - from_partner.flatten(1).float().mean(1)
        if self.legacy_shared_lam:
            lam = lam[:1].expand(b)
        return MixedBatch(mixed, index, keep_self_pairs(lam, index), self.name, mask=from_partner.to(x.dtype),
                          is_box=torch.zeros(b, dtype=torch.bool, device=x.device))

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, model_name={self.model_name!r}, checkpoint={self.checkpoint!r}, '
                f'top_k={self.top_k}, grid={self.grid}, feat_size={self.feat_size}, scored={self.scored!r}, '
                f'legacy_shared_lam={self.legacy_shared_lam}')
