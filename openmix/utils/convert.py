"""State-dict converters between openmix and other layouts, in one place.

In (released checkpoints -> openmix's ``ImageClassifier`` layout, ``backbone.model.*`` + ``head.fc.*``):

* :func:`convert_transmix`: TransMix's release (timm 0.5.4 ``train.py``: ``state_dict`` / ``state_dict_ema``) and the
  official DeiT / CaiT / XCiT code it trains (``model`` / ``model_ema``); all are timm-named models.
* :func:`convert_official_lvvit`: Token Labeling's LV-ViT (``TokenLabelClassifier`` layout, ``aux_head`` kept).
* :func:`convert_openmixup`: OpenMixup's ``MixUpClassification`` (mmcls-style ``ResNet`` / ``ResNet_CIFAR`` /
  ``VisionTransformer`` backbones, ``ClsHead`` / ``ClsMixupHead`` / ``VisionTransformerClsHead``).

:func:`convert_checkpoint` detects the layout (:func:`release_layout`) and applies the matching converter; openmix's
mmengine checkpoint loader and ``load_model_weights`` call it, so ``load_from`` and ``tools/test.py`` take the released
files as they are (weights-only loading stays on). ``tools/convert_checkpoint.py`` writes the converted file. Each
converter is tested on checkpoints written by the official code (``tests/utils/test_convert.py``: no missing or
unexpected keys, logits equal to the recorded official ones to float rounding).

Out: :func:`to_timm` maps a built openmix ``ImageClassifier`` onto the stock timm model (``tools/export.py``).
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch

__all__ = ['LAYOUTS', 'detect_layout', 'release_layout', 'convert_checkpoint', 'convert_transmix',
           'convert_official_lvvit', 'is_official_lvvit', 'convert_openmixup', 'timm_kwargs', 'to_timm', 'ExportError']

#: layouts ``convert_checkpoint`` / ``tools/convert_checkpoint.py --from`` know
LAYOUTS = ('transmix', 'tokenlabeling', 'openmixup')

# official PatchEmbed4_2 module names -> index in ConvStemPatchEmbed's ``proj`` Sequential (conv, BN, ReLU) x 3 + proj
_STEM = {'conv1': 0, 'bn1': 1, 'conv2': 3, 'bn2': 4, 'conv3': 6, 'bn3': 7, 'proj': 9}


def _tensors(state: Mapping) -> bool:
    return bool(state) and all(isinstance(v, torch.Tensor) for v in state.values())


def _unwrap(checkpoint: Mapping, ema: bool = False) -> dict[str, torch.Tensor]:
    """The state dict of a checkpoint file's content, ``module.`` (DDP) stripped.

    ``state_dict`` (mmengine, OpenMixup, timm ``train.py``), ``model`` (DeiT/CaiT/XCiT ``main.py``); with ``ema=True``
    ``state_dict_ema`` (timm) or ``model_ema`` (DeiT). A bare state dict is taken as it is.
    """
    keys = ('state_dict_ema', 'model_ema') if ema else ('state_dict', 'model')
    for key in keys:
        if isinstance(checkpoint.get(key), Mapping):
            checkpoint = checkpoint[key]
            break
    else:
        if ema:
            raise KeyError(f'no EMA weights (looked for {keys}); keys: {sorted(checkpoint)[:20]}')
    if not _tensors(checkpoint):
        raise KeyError(f'not a state dict (looked for `state_dict` / `model`); keys: {sorted(checkpoint)[:20]}')
    return {(k[len('module.'):] if k.startswith('module.') else k): v for k, v in checkpoint.items()}


def is_official_lvvit(state_dict: Mapping[str, torch.Tensor], prefix: str = '') -> bool:
    """Whether ``state_dict`` (under ``prefix``) is in the official LV-ViT layout (``patch_embed.conv1`` stem).

    Differences from the reference code:
        None (a key test).
    """
    return f'{prefix}patch_embed.conv1.weight' in state_dict


def convert_official_lvvit(state_dict: Mapping[str, torch.Tensor], aux_head: bool = True) -> dict[str, torch.Tensor]:
    """An official LV-ViT state dict (``tlt/models/lvvit.py``, ``p_emb='4_2'``) in openmix's ``TokenLabelClassifier``
    layout.

    ``patch_embed.{conv,bn}{1,2,3}`` / ``patch_embed.proj`` -> ``backbone.model.patch_embed.proj.{0,1,3,4,6,7,9}``;
    ``cls_token``, ``pos_embed``, ``blocks.*``, ``norm.*`` -> ``backbone.model.*`` (timm's names are the official ones);
    ``head.*`` -> ``head.fc.*``; ``aux_head.*`` stays (dropped with ``aux_head=False``, for an ``ImageClassifier``).
    A ``module.`` prefix (DDP) is stripped; a checkpoint dict holding ``state_dict`` is unwrapped. Only the
    ``PatchEmbed4_2`` stem and ``Block`` layers (LV-ViT-T/S/M) have an openmix counterpart; other official layers raise.

    Example:
        >>> state = torch.load('lvvit_s-26M-224-83.3.pth.tar', map_location='cpu', weights_only=True)
        >>> model.load_state_dict(convert_official_lvvit(state))  # or just model.load_state_dict(state)

    Differences from the reference code:
        None: an official state dict loads with no missing or unexpected keys and gives the recorded official logits
        (class, auxiliary, and ``cls + 0.5 * max(aux)``) to 1e-7 on the tiny fixture model; full-size official
        LV-ViT-T/S load with ``strict=True`` and agree to 1e-6.
    """
    if 'state_dict' in state_dict and isinstance(state_dict['state_dict'], Mapping):
        state_dict = state_dict['state_dict']
    out = {}
    for key, value in state_dict.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        head, _, rest = key.partition('.')
        if key.startswith('patch_embed.'):
            layer, _, param = rest.partition('.')
            if layer not in _STEM:
                raise KeyError(f'convert_official_lvvit: {key!r} is not part of the PatchEmbed4_2 stem '
                               f'(only p_emb="4_2" models convert)')
            out[f'backbone.model.patch_embed.proj.{_STEM[layer]}.{param}'] = value
        elif head in ('cls_token', 'pos_embed', 'blocks', 'norm'):
            out[f'backbone.model.{key}'] = value
        elif head == 'head':
            out[f'head.fc.{rest}'] = value
        elif head == 'aux_head':
            if aux_head:
                out[key] = value
        else:
            raise KeyError(f'convert_official_lvvit: no openmix counterpart for {key!r}')
    return out


def convert_transmix(checkpoint: Mapping, ema: bool = False) -> dict[str, torch.Tensor]:
    """A TransMix / DeiT / CaiT / XCiT release (timm-named model) in openmix's ``ImageClassifier`` layout.

    TransMix (Chen et al., CVPR 2022; github.com/Beckschen/TransMix) trains its DeiTs with a fork of timm 0.5.4's
    ``vision_transformer.py`` (same parameter names, an extra attention output) and timm's ``train.py`` (checkpoint
    ``state_dict``, EMA in ``state_dict_ema``); CaiT and XCiT are the official definitions (DeiT repo
    ``cait_models.py``, XCiT repo ``xcit.py``, checkpoint ``model``), whose names timm kept, except XCiT's
    ``pos_embeder`` (timm: ``pos_embed``) and its class-attention ``qkv`` (timm: ``q``, ``k``, ``v``), converted here
    as timm's own ``xcit.checkpoint_filter_fn`` does. Every key maps to ``backbone.model.<key>`` except ``head.*`` ->
    ``head.fc.*``. Build the model from the matching config (``configs/transmix/deit_s_transmix.py`` ...).

    Refused (``KeyError`` naming the key): distilled DeiT (``dist_token``/``head_dist``: no openmix model has a
    distillation token), ViT ``pre_logits`` (representation layer), and PVT v1 (``patch_embed1``/``block1``: TransMix's
    PVT rows train PVT v1, which timm lacks; openmix's PVT rows are timm's PVT-v2 with a class-attention head).

    Args:
        checkpoint: a checkpoint's content (``state_dict`` / ``model`` wrapper or a bare state dict).
        ema: take the EMA weights (``state_dict_ema`` / ``model_ema``).
    """
    state = _unwrap(checkpoint, ema)
    out = {}
    for key, value in state.items():
        top = key.partition('.')[0]
        if top in ('dist_token', 'head_dist'):
            raise KeyError(f'convert_transmix: {key!r}: distilled DeiT (distillation token) has no openmix '
                           f'counterpart; use a non-distilled checkpoint')
        if top == 'pre_logits':
            raise KeyError(f'convert_transmix: {key!r}: a ViT with a representation layer (pre_logits) has no '
                           f'openmix counterpart')
        if re.match(r'(patch_embed|block|norm)[1-4]\.', key):
            raise KeyError(f'convert_transmix: {key!r} is a PVT v1 layer (official PVT / TransMix PVT rows); timm '
                           f'has no PVT v1, so no openmix model takes it (openmix PVT rows use timm pvt_v2_b*)')
        if top == 'pos_embeder':  # official XCiT name
            key = 'pos_embed.' + key.partition('.')[2]
        m = re.fullmatch(r'(cls_attn_blocks\.\d+\.attn)\.qkv\.(weight|bias)', key)
        if m:  # official XCiT class attention: fused qkv; timm splits it
            for name, part in zip('qkv', value.reshape(3, -1, *value.shape[1:])):
                out[f'backbone.model.{m[1]}.{name}.{m[2]}'] = part.clone()
            continue
        out[f'head.fc.{key[5:]}' if top == 'head' else f'backbone.model.{key}'] = value
    return out


# OpenMixup VisionTransformer (mmcls style) -> timm VisionTransformer, per block and outside the blocks
_MMCLS_VIT_BLOCK = {'ln1': 'norm1', 'ln2': 'norm2', 'attn.qkv': 'attn.qkv', 'attn.proj': 'attn.proj',
                    'ffn.layers.0.0': 'mlp.fc1', 'ffn.layers.1': 'mlp.fc2'}
_MMCLS_VIT_TOP = {'patch_embed.projection': 'patch_embed.proj', 'ln1': 'norm', 'cls_token': 'cls_token',
                  'pos_embed': 'pos_embed'}
#: parts of an OpenMixup ``MixUpClassification`` with no place in an openmix ``ImageClassifier`` (the frozen
#: pre-trained network of AttentiveMix/PuzzleMix+ and AutoMix's Mix Block); dropped
_OPENMIXUP_DROPPED = ('backbone_k.', 'mix_block.', 'head_k.', 'head_one.', 'head_mix.', 'head_mix_k.')


def convert_openmixup(checkpoint: Mapping, drop_extra: bool = True) -> dict[str, torch.Tensor]:
    """An OpenMixup ``MixUpClassification`` checkpoint in openmix's ``ImageClassifier`` layout.

    OpenMixup (github.com/Westlake-AI/openmixup) saves ``state_dict`` with ``backbone.*`` and ``head.*``:

    * ``ResNet`` / ``ResNet_CIFAR`` / ``ResNeXt`` (mmcls style, ``style='pytorch'``): ``conv1``, ``bn1``,
      ``layer{1-4}.{i}.{conv,bn}{1-3}``, ``downsample.{0,1}`` are timm's (torchvision's) names ->
      ``backbone.model.*``. ``ResNet_CIFAR`` (3x3/1 stem, no max-pool) is openmix's ``cifar_stem=True``.
    * ``VisionTransformer`` (``arch='deit-*'``): ``patch_embed.projection`` -> ``patch_embed.proj``,
      ``layers.{i}.ln1/ln2`` -> ``blocks.{i}.norm1/norm2``, ``ffn.layers.0.0`` / ``ffn.layers.1`` -> ``mlp.fc1`` /
      ``mlp.fc2``, ``attn.qkv/proj`` kept, ``gamma_1/2`` -> ``ls1/ls2.gamma``, final ``ln1`` -> ``norm``.
    * Heads: ``ClsHead`` / ``ClsMixupHead`` ``fc.*`` and ``VisionTransformerClsHead`` ``layers.head.*`` ->
      ``head.fc.*``; a hidden ``pre_logits`` layer is refused.

    Args:
        checkpoint: the checkpoint's content (``state_dict`` wrapper or a bare state dict).
        drop_extra: drop ``backbone_k`` / ``mix_block`` / AutoMix's extra heads (training-only parts); with False they
            raise.
    """
    state = _unwrap(checkpoint)
    vit = any(k.startswith('backbone.layers.') for k in state)
    out = {}
    for key, value in state.items():
        if key.startswith(_OPENMIXUP_DROPPED):
            if drop_extra:
                continue
            raise KeyError(f'convert_openmixup: {key!r} (training-only part) has no place in an ImageClassifier')
        if key.startswith('head.'):
            rest = key[5:]
            if rest.startswith('fc.'):
                out[f'head.{rest}'] = value
            elif rest.startswith('layers.head.'):
                out[f'head.fc.{rest[len("layers.head."):]}'] = value
            else:
                raise KeyError(f'convert_openmixup: {key!r}: only single-linear heads (ClsHead, ClsMixupHead, '
                               f'VisionTransformerClsHead without hidden_dim) convert')
            continue
        if not key.startswith('backbone.'):
            raise KeyError(f'convert_openmixup: {key!r} is neither backbone.* nor head.*')
        rest = key[len('backbone.'):]
        if vit:
            rest = _mmcls_vit_key(rest, key)
        out[f'backbone.model.{rest}'] = value
    return out


def _mmcls_vit_key(rest: str, full: str) -> str:
    m = re.fullmatch(r'layers\.(\d+)\.(.+)\.(weight|bias)', rest)
    if m and m[2] in _MMCLS_VIT_BLOCK:
        return f'blocks.{m[1]}.{_MMCLS_VIT_BLOCK[m[2]]}.{m[3]}'
    m = re.fullmatch(r'layers\.(\d+)\.gamma_([12])', rest)
    if m:
        return f'blocks.{m[1]}.ls{m[2]}.gamma'
    name, _, param = rest.rpartition('.')
    if name in _MMCLS_VIT_TOP and param in ('weight', 'bias'):
        return f'{_MMCLS_VIT_TOP[name]}.{param}'
    if rest in _MMCLS_VIT_TOP:
        return _MMCLS_VIT_TOP[rest]
    raise KeyError(f'convert_openmixup: {full!r} has no timm VisionTransformer counterpart')


def detect_layout(checkpoint: Mapping) -> str | None:
    """``'openmix'``, ``'tokenlabeling'``, ``'openmixup'``, ``'transmix'`` (any timm-named release) or None.

    Decided from the parameter names only: openmix state dicts hold ``backbone.model.*`` (every openmix backbone is a
    ``TimmBackbone``); OpenMixup's hold ``backbone.*`` without ``.model``; official LV-ViT's ``patch_embed.conv1``;
    timm-named ViT releases (TransMix/DeiT/CaiT/XCiT) ``cls_token`` or ``blocks.*`` at the top level.
    """
    try:
        state = _unwrap(checkpoint)
    except KeyError:
        return None
    keys = list(state)
    if any(k.startswith('backbone.model.') for k in keys):
        return 'openmix'
    if any(k.startswith('backbone.') for k in keys):
        return 'openmixup'
    if is_official_lvvit(state):
        return 'tokenlabeling'
    if 'cls_token' in state or any(k.startswith(('blocks.', 'cls_attn_blocks.', 'blocks_token_only.')) for k in keys):
        return 'transmix'
    return None


def release_layout(checkpoint: Mapping) -> str | None:
    """The layout (one of :data:`LAYOUTS`) of a released checkpoint, None for openmix's own (anything an mmengine
    ``Runner`` wrote, which has a ``message_hub``, or ``backbone.model.*`` names) or an unrecognised file."""
    if 'message_hub' in checkpoint:
        return None
    layout = detect_layout(checkpoint)
    return layout if layout in LAYOUTS else None


def convert_checkpoint(checkpoint: Mapping, source: str | None = None, ema: bool = False) -> dict:
    """A checkpoint's content with its state dict in openmix's layout: ``{'state_dict': ..., 'meta': ...}``.

    ``source`` (one of :data:`LAYOUTS`) forces the converter; by default it is detected (:func:`release_layout`) and
    an openmix checkpoint (anything an mmengine ``Runner`` wrote: it has a ``message_hub``) or anything unrecognised is
    returned unchanged. With ``ema=True`` the EMA weights of a TransMix/DeiT release are taken.
    """
    layout = source or release_layout(checkpoint)
    if layout not in LAYOUTS:
        if source is not None:
            raise ValueError(f'unknown checkpoint layout {source!r}; choose one of {LAYOUTS}')
        return checkpoint  # type: ignore[return-value]
    if layout == 'transmix':
        state = convert_transmix(checkpoint, ema=ema)
    elif layout == 'tokenlabeling':
        state = convert_official_lvvit(_unwrap(checkpoint, ema))
    else:
        state = convert_openmixup(checkpoint)
    return dict(state_dict=state, meta=dict(converted_from=layout))


class ExportError(ValueError):
    """An openmix model with no stock timm equivalent (the message names the class or option)."""


def timm_kwargs(model: torch.nn.Module, backbone_cfg: Mapping) -> dict:
    """``timm.create_model`` kwargs of the stock timm model equal to openmix ``ImageClassifier`` ``model``.

    Only models whose inference is ``head(backbone(x))`` with a plain ``TimmBackbone`` (no custom stem, block or norm
    class, no CIFAR stem) and a ``LinearClsHead`` have one: the kwargs are the config's backbone kwargs (``img_size``,
    ``patch_size``, ``drop_path_rate`` ...) plus ``num_classes`` (and ``drop_rate`` for the head's dropout). Anything
    else raises :class:`ExportError` naming what has no timm equivalent. Weights are not read.

    Args:
        model: the built classifier.
        backbone_cfg: its ``model.backbone`` config (the timm kwargs are read from it).
    """
    from openmix.models.backbones.timm_backbone import TimmBackbone
    from openmix.models.classifier import ImageClassifier
    from openmix.models.heads.linear_head import LinearClsHead

    if type(model) is not ImageClassifier:
        raise ExportError(f'{type(model).__name__} has no timm equivalent: only ImageClassifier exports (inference '
                          f'head(backbone(x))); {type(model).__name__} adds parts a timm model does not have')
    backbone, head = model.backbone, model.head
    if type(backbone) is not TimmBackbone:
        raise ExportError(f'backbone {type(backbone).__name__} has no timm equivalent: only TimmBackbone exports '
                          f'(e.g. ClassAttentionHeadBackbone adds a class-attention head timm models lack)')
    if type(head) is not LinearClsHead:
        raise ExportError(f'head {type(head).__name__} has no timm equivalent: only LinearClsHead exports')
    kwargs = {k: v for k, v in dict(backbone_cfg).items() if k not in ('type', 'model_name', 'checkpoint')}
    if kwargs.pop('cifar_stem', False):
        raise ExportError('backbone.cifar_stem=True (3x3/1 stem, no max-pool, OpenMixup ResNet_CIFAR) has no timm '
                          'ResNet equivalent')
    for key, value in kwargs.items():
        if isinstance(value, Mapping) or callable(value):
            name = value.get('type') if isinstance(value, Mapping) else getattr(value, '__name__', value)
            raise ExportError(f'backbone.{key}={name!r} is an openmix layer class that timm.create_model cannot '
                              f'build by name (ConvStemPatchEmbed, ScaledResidualBlock, LayerNorm ...): no timm '
                              f'equivalent')
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    kwargs['num_classes'] = head.num_classes
    if head.drop.p:
        kwargs['drop_rate'] = head.drop.p
    return kwargs


def to_timm(model: torch.nn.Module, backbone_cfg: Mapping) -> tuple[str, dict, dict[str, torch.Tensor]]:
    """``(timm model name, create_model kwargs, timm state dict)`` of an openmix ``ImageClassifier``.

    ``backbone.model.*`` keep their timm names, ``head.fc.*`` becomes the timm model's classifier (``head``, ``fc``,
    ``head.fc`` ... as ``get_classifier()`` names it); the result is checked to load strictly into the timm model
    built from the kwargs (:func:`timm_kwargs`, which raises :class:`ExportError` for models without a timm
    equivalent).
    """
    import timm

    kwargs = timm_kwargs(model, backbone_cfg)
    backbone, head = model.backbone, model.head
    reference = timm.create_model(backbone.model_name, pretrained=False, **kwargs)
    classifier = reference.get_classifier()
    names = [n for n, m in reference.named_modules() if m is classifier]
    if not names or not isinstance(classifier, torch.nn.Linear):
        raise ExportError(f'{backbone.model_name}: its classifier is {type(classifier).__name__}, not one Linear '
                          f'layer; no place for LinearClsHead')
    state = dict(backbone.model.state_dict())
    state.update({f'{names[0]}.{k}': v for k, v in head.fc.state_dict().items()})
    missing, unexpected = reference.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ExportError(f'{backbone.model_name}: the openmix backbone does not match the timm model built from '
                          f'the config (missing {missing[:5]}, unexpected {unexpected[:5]})')
    return backbone.model_name, kwargs, state
