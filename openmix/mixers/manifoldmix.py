"""Manifold Mixup: Verma et al., "Manifold Mixup: Better Representations by Interpolating Hidden States", ICML 2019
(https://arxiv.org/abs/1806.05236).

Hidden states of a stock timm backbone are mixed through a forward hook on the chosen layer (STYLE.md point 4: no
forked ``ResNet_Mix``); the mixer arms the hook in the training step and the hook fires once in the forward pass.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import nn

from openmix.registry import MIXERS

from .base import BaseMixer, MixedBatch, keep_self_pairs

__all__ = ['ManifoldMix', 'layer_candidates']


def layer_candidates(model: nn.Module) -> tuple[list[str], tuple[int, ...] | None]:
    """Module names whose outputs are the hidden states ``h_1 .. h_n`` of ``model``, and the default mixing layers.

    Integer layer ``k`` means "the output of the k-th stage (block)", ``0`` the input images:

    - ResNet/ResNeXt-style (``layer1``, ``layer2``, ...): stage outputs; default ``(0, 1, 2)``: input, after
      ``layer1``, after ``layer2``, the choices of the official ``preresnet.py`` (``layer_mix = random.randint(0, 2)``)
      and of OpenMixup's ``ResNet_Mix`` (``layer=(0, 3)``), read from their code.
    - Staged models (``stages`` as ConvNeXt, ``layers`` as Swin): stage outputs; default ``(0, 1, 2)``, the choices
      OpenMixup's ``ConvNeXt_Mix``/``SwinTransformer_Mix`` take with ``layer=(0, 3)`` (read from its code).
    - ViT-style (``blocks``): block outputs; default ``(0, depth // 4, depth // 2)``, the same relative depths as
      ResNet stages 1-2 (openmix's choice: neither the paper nor OpenMixup mixes ViT blocks).

    Returns ``([], None)`` for a model none of these fit (then ``layers`` must name modules).
    """
    if isinstance(getattr(model, 'layer1', None), nn.Module):
        names = []
        while isinstance(getattr(model, f'layer{len(names) + 1}', None), nn.Module):
            names.append(f'layer{len(names) + 1}')
        return names, (0, 1, 2)
    for attr in ('stages', 'layers'):
        seq = getattr(model, attr, None)
        if isinstance(seq, (nn.Sequential, nn.ModuleList)) and len(seq):
            return [f'{attr}.{i}' for i in range(len(seq))], (0, 1, 2)
    blocks = getattr(model, 'blocks', None)
    if isinstance(blocks, (nn.Sequential, nn.ModuleList)) and len(blocks):
        depth = len(blocks)
        return [f'blocks.{i}' for i in range(depth)], tuple(sorted({0, depth // 4, depth // 2}))
    return [], None


@MIXERS.register_module()
class ManifoldMix(BaseMixer):
    """Mixup of the hidden state at a randomly chosen layer (paper Eq. 1 / Alg. 1).

    Each training step draws ``lam ~ Beta(alpha, alpha)``, a partner index and a layer ``k`` uniformly from
    ``layers``; the network's state after layer ``k`` becomes ``lam * h_k + (1 - lam) * h_k[index]`` and the label
    ``lam * y + (1 - lam) * y[index]`` (the classifier's ``AreaLabel``). Layer 0 mixes the images themselves (input
    Mixup); the returned ``MixedBatch`` then carries the mixed images, otherwise the images unchanged and the hook
    of the chosen module mixes its output once in the forward pass that follows, then disarms. Gradients flow through
    both mixed states (the official ``mixup_process`` detaches neither). Evaluation never mixes (no step arms the
    hook).

    Guided mixer: ``ImageClassifier`` calls ``attach(classifier)`` once, which registers the hooks on the stock timm
    model ``classifier.backbone.model`` (see :func:`layer_candidates` for the layers of each family). One ``lam``,
    one random permutation and one layer per batch, drawn in that order (the official code's and OpenMixup's order).

    Args:
        alpha: Beta concentration (official CIFAR runs and OpenMixup CIFAR configs: 2.0; OpenMixup ImageNet: 0.2).
        layers: Candidate layers: integers (``0`` the input, ``k`` the output of the k-th stage or block), module
            names of the timm model (``'layer3'``, ``'blocks.5'``, ``'input'``), or a mix; default per family (see
            :func:`layer_candidates`).
        prob: Probability that a batch is mixed at all.
        pairing: ``'perm'`` (official code and OpenMixup: random permutation) or ``'flip'``.
        seed: Generator seed; by default the run seed and the rank.

    Example:
        >>> model = MODELS.build(dict(type='ImageClassifier', head=dict(type='LinearClsHead', num_classes=10),
        ...     backbone=dict(type='TimmBackbone', model_name='resnet18', cifar_stem=True),
        ...     mixer=dict(type='ManifoldMix', alpha=2.0)))

    Differences from the reference code:
        References: the official ``mixup_process`` (vikasverma1077/manifold_mixup @870ef77, ``supervised/utils.py``,
        with ``preresnet.py``) and OpenMixup's ``_manifoldmix`` + ``ResNet_Mix._feature_mixup`` (@37e1372). Given
        the same ``lam``, permutation and layer, the mixed hidden state and the mixed label equal the official
        ``mixup_process`` output to float rounding (``|diff| <= 1e-6``; it multiplies by a float32 ``lam`` tensor,
        ours by a Python float) at the input and after ``layer1``/``layer2``
        (``tests/mixers/test_reference_resize_smooth.py``, fixture ``tests/fixtures/reference/manifoldmix.npz``).
        What differs:

        - Loss: the official code trains on ``BCELoss(softmax(logits), mixed one-hot)``; ours (as OpenMixup's
          ``ClsMixupHead``, read from its code) on the cross-entropy with the mixed label. Every step. Flag: none;
          not reproducible (no softmax-BCE loss in openmix).
        - A sample the permutation pairs with itself (on average 1 per batch, in about 63 % of batches) gets
          ``lam = 1`` here; its two labels are the same class and its state is unchanged, so loss and gradients
          are the same. Flag: none needed.
        - Random streams: the mixer's own generator, not the global NumPy/``random``/torch RNGs (same
          distributions: ``lam ~ Beta(alpha, alpha)``, uniform permutation, uniform layer). Flag: none; not
          reproducible.
        - Backbones: the hooks sit on stock timm stages; whether a timm ResNet equals the official PreActResNet or
          OpenMixup's ``ResNet_Mix_CIFAR`` is the backbone's business, not the mixer's. ViT block choices are
          openmix's own (no reference mixes ViT blocks). Flag: ``layers``.
    """

    name = 'manifoldmix'
    guided = True
    supports_per_sample = False

    def __init__(self, alpha: float = 2.0, layers: int | str | Sequence[int | str] | None = None, prob: float = 1.0,
                 pairing: str = 'perm', seed: int | None = None) -> None:
        super().__init__(alpha=alpha, prob=prob, pairing=pairing, seed=seed)
        if isinstance(layers, (int, str)):
            layers = [layers]
        self.layers = None if layers is None else list(layers)
        if self.layers is not None and not self.layers:
            raise ValueError('ManifoldMix: `mixer.layers` is empty; give at least one layer or None for the default')
        self.choices: list[str | None] = []  # resolved by attach(): module names, None = the input images
        self.last_layer: str | None = None  # the layer of the last mixed batch ('input' or a module name)
        self._armed: tuple[str, float, torch.Tensor] | None = None
        self._handles: list = []
        self._model = None  # the timm model, set outside nn.Module's registry: the mixer must not own the backbone

    def attach(self, classifier: nn.Module) -> None:
        """Resolve ``layers`` on ``classifier.backbone.model`` and register the forward hooks."""
        backbone = classifier.backbone
        model = getattr(backbone, 'model', backbone)
        model_name = getattr(backbone, 'model_name', type(model).__name__)
        names, default = layer_candidates(model)
        valid = ', '.join(['0 / "input" (the images)'] + [f'{k} / {n!r}' for k, n in enumerate(names, 1)])
        valid += f', or any module name of {model_name}'
        if self.layers is None and default is None:
            raise ValueError(f'ManifoldMix: cannot tell the stages of {model_name!r}; set `mixer.layers` to module '
                             f'names (e.g. from `named_modules()`)')
        modules = dict(model.named_modules())
        choices = []
        for entry in (default if self.layers is None else self.layers):
            if isinstance(entry, bool) or not isinstance(entry, (int, str)):
                raise ValueError(f'ManifoldMix: `mixer.layers` entry {entry!r} is not an int or a module name; '
                                 f'valid choices: {valid}')
            if isinstance(entry, int):
                if not 0 <= entry <= len(names):
                    raise ValueError(f'ManifoldMix: `mixer.layers` entry {entry} is out of range for {model_name!r}; '
                                     f'valid choices: {valid}')
                name = None if entry == 0 else names[entry - 1]
            elif entry == 'input':
                name = None
            elif entry in modules and entry:
                name = entry
            else:
                raise ValueError(f'ManifoldMix: `mixer.layers` entry {entry!r} is not a module of {model_name!r}; '
                                 f'valid choices: {valid}')
            if name not in choices:
                choices.append(name)
        for handle in self._handles:
            handle.remove()
        self._handles = [modules[n].register_forward_hook(functools.partial(self._mix_hook, n))
                         for n in choices if n is not None]
        self.choices = choices
        object.__setattr__(self, '_model', model)  # not a submodule: no cycle in state_dict()/.to()

    def _mix_hook(self, name: str, module: nn.Module, args, output):
        if self._armed is None or self._armed[0] != name:
            return None
        _, lam, index = self._armed
        self._armed = None
        if not torch.is_tensor(output) or output.shape[0] != index.shape[0]:
            got = tuple(output.shape) if torch.is_tensor(output) else type(output).__name__
            raise RuntimeError(f'ManifoldMix: module {name!r} returned {got}, not a tensor with the batch of '
                               f'{index.shape[0]} first; choose another `mixer.layers` entry')
        return output * lam + output.index_select(0, index.to(output.device)) * (1.0 - lam)

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> MixedBatch:
        """Draw ``(lam, index, layer)``; mix ``x`` for layer 0, else arm the layer's hook for the next forward.

        ``targets`` is accepted for the guided-mixer contract and unused: the label is area-based.
        """
        if self._armed is not None:
            name = self._armed[0]
            self._armed = None
            raise RuntimeError(f'ManifoldMix: the hook on {name!r} was armed but the forward pass after the last call '
                               f'never ran that module (is it used by forward_features?); pick layers the forward '
                               f'reaches in `mixer.layers`')
        if not self.choices:
            raise RuntimeError('ManifoldMix needs the network: call attach(classifier) first (ImageClassifier does it '
                               'when built with model.mixer=dict(type="ManifoldMix"))')
        if getattr(self._model, 'grad_checkpointing', False) and any(c is not None for c in self.choices):
            raise RuntimeError('ManifoldMix: gradient checkpointing re-runs the hooked layers in the backward pass '
                               'without the mix; disable it or use `mixer.layers=[0]`')
        b = x.shape[0]
        if not self.enabled or self.rng.random() >= self.prob:
            self.last_layer = None
            return self.unmixed(x)
        lam = float(self.sample_lam(self.rng, 1)[0])
        index = self.partner_index(b, x.device)
        layer = self.choices[int(self.rng.integers(len(self.choices)))]
        self.last_layer = 'input' if layer is None else layer
        if layer is None:
            x = x * lam + x.index_select(0, index) * (1.0 - lam)
        else:
            self._armed = (layer, lam, index)
        lam_t = keep_self_pairs(torch.full((b,), lam, device=x.device), index)
        return MixedBatch(x, index, lam_t, self.name, is_box=torch.zeros(b, dtype=torch.bool, device=x.device))

    def extra_repr(self) -> str:
        layers = self.choices if self.choices else self.layers
        return f'{super().extra_repr()}, layers={layers}'
