"""Any timm model as a feature extractor, built by name with any timm kwargs."""
from __future__ import annotations

import difflib
import functools

import timm
import torch
from torch import nn

from openmix.registry import MODELS, unknown_type_message


@MODELS.register_module()
class TimmBackbone(nn.Module):
    """A stock timm model without its classifier; ``forward`` returns pooled pre-logit features ``(B, C)``.

    Args:
        model_name: timm model name (``deit_small_patch16_224``, ``resnet50``, ``cait_xxs24_224`` ...).
        checkpoint: optional local path of weights to load (``weights_only``); nothing is downloaded at run time.
        cifar_stem: for timm ResNet/ResNeXt, replace the 7x7/2 stem conv and the max-pool by a 3x3/1 conv, the usual
            CIFAR ResNet (He et al. 2016, Sec. 4.2; OpenMixup's ``ResNet_CIFAR``), for 32 px inputs.
        **kwargs: passed to ``timm.create_model`` (``drop_path_rate``, ``img_size``, ``patch_size``, ``embed_dim``...).

    Example:
        >>> backbone = TimmBackbone('vit_tiny_patch16_224', img_size=32, patch_size=8)
        >>> backbone(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 192])

    Differences from the reference code: the papers' and OpenMixup's rows train their own model code (DeiT's and
    TransMix's timm 0.3-0.5 forks, OpenMixup's mmcls-style ``ResNet``/``ResNet_CIFAR``); here every backbone is the
    stock timm model of today with timm's initialisation. Not compared with recorded output; no flag (LV-ViT, whose
    official model is compared, is the exception: see ``convert_official_lvvit``).
    """

    def __init__(self, model_name: str, checkpoint: str | None = None, cifar_stem: bool = False, **kwargs) -> None:
        super().__init__()
        if kwargs.pop('pretrained', False):
            raise ValueError('TimmBackbone does not download weights: set `checkpoint` to a local file instead of '
                             '`pretrained=True`')
        if not timm.is_model(model_name.split('.')[0]):
            close = difflib.get_close_matches(model_name, timm.list_models(), n=6, cutoff=0.6)
            raise KeyError(f"unknown timm model `backbone.model_name={model_name!r}`; similar names: {close}")
        self.model_name = model_name
        # layer classes from configs, e.g. embed_layer=dict(type='ConvStemPatchEmbed', stem_channels=32) or
        # norm_layer=dict(type='LayerNorm', eps=1e-5), passed to timm as partials
        for key in ('embed_layer', 'block_fn', 'norm_layer'):
            if isinstance(kwargs.get(key), dict):
                part = dict(kwargs[key])
                cls = MODELS.get(part.get('type'))
                if cls is None:
                    raise KeyError(unknown_type_message(part.get('type'), MODELS, f'backbone.{key}.type'))
                part.pop('type')
                kwargs[key] = functools.partial(cls, **part)
        self.model = timm.create_model(model_name, pretrained=False, num_classes=0, **kwargs)
        self.num_features = self.model.num_features
        if cifar_stem:
            if not (hasattr(self.model, 'conv1') and hasattr(self.model, 'maxpool')):
                raise ValueError(f'`backbone.cifar_stem=True` needs a timm ResNet-style model, got {model_name!r}')
            self.model.conv1 = nn.Conv2d(3, self.model.conv1.out_channels, 3, stride=1, padding=1, bias=False)
            self.model.maxpool = nn.Identity()
        if checkpoint:
            state = torch.load(checkpoint, map_location='cpu', weights_only=True)
            state = state.get('state_dict', state.get('model', state))
            missing, unexpected = self.model.load_state_dict(state, strict=False)
            unexpected = [k for k in unexpected if not k.startswith(('head', 'fc.', 'classifier'))]
            if unexpected:
                raise KeyError(f'{checkpoint}: keys not in {model_name}: {unexpected[:10]}')

    def no_weight_decay(self) -> set[str]:
        nwd = getattr(self.model, 'no_weight_decay', None)
        return {f'model.{name}' for name in nwd()} if nwd else set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)
