"""Load model weights (raw or EMA) from an openmix checkpoint, weights-only."""
from __future__ import annotations

import torch
from mmengine.model import is_model_wrapper
from torch import nn

from openmix.utils.checkpoint import load_checkpoint_file
from openmix.utils.convert import convert_checkpoint, release_layout


def load_model_weights(model: nn.Module, path: str, ema: bool = False) -> None:
    """Load ``state_dict`` (or ``ema_state_dict`` with ``ema=True``) of checkpoint ``path`` into ``model``.

    The file is read with ``weights_only=True`` (checkpoints are untrusted input); missing or unexpected keys raise.
    A file that is a bare state dict (released weights, e.g. official LV-ViT, which ``TokenLabelClassifier`` converts
    on load) is loaded as it is.
    """
    checkpoint = load_checkpoint_file(path, map_location='cpu')
    if release_layout(checkpoint):  # a release (TransMix/DeiT, LV-ViT, OpenMixup): convert
        checkpoint, ema = convert_checkpoint(checkpoint, ema=ema), False  # the release's EMA is taken on conversion
    key = 'ema_state_dict' if ema else 'state_dict'
    if not ema and key not in checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        checkpoint = {key: checkpoint}
    if key not in checkpoint:
        hint = ' (was the model trained with EMAHook?)' if ema else ''
        raise KeyError(f'{path} has no `{key}`{hint}; keys: {sorted(checkpoint)}')
    state = checkpoint[key]
    if ema:  # EMA copies may prefix their parameters (e.g. `module.`); strip to the model's own names
        own = (model.module if is_model_wrapper(model) else model).state_dict()
        state = {k: v for k, v in state.items()} if set(state) <= set(own) else {
            k.split('.', 1)[1]: v for k, v in state.items() if k.split('.', 1)[0] in ('module', 'ema')}
    target = model.module if is_model_wrapper(model) else model
    target.load_state_dict(state, strict=True)
