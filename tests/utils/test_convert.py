"""Released checkpoints into openmix (``openmix.utils.convert``), against files and logits recorded with the official
model code (TransMix's timm fork + CheckpointSaver, the official XCiT and CaiT definitions, OpenMixup's ResNet_CIFAR and
VisionTransformer; provenance in tests/fixtures/reference/{transmix,openmixup}_*.md): each file loads weights-only,
its layout is detected, the converted state dict loads with no missing/unexpected keys and gives the recorded logits
(raw and EMA); the full-size official key/shape lists load strictly into our configs' models; ``load_from`` (mmengine's
checkpoint loader), ``load_model_weights`` and ``tools/convert_checkpoint.py`` take the release files as they are."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint_to_model

from openmix.registry import MODELS
from openmix.utils.checkpoint import load_checkpoint_file
from openmix.utils.convert import convert_checkpoint, convert_transmix, detect_layout
from openmix.utils.weights import load_model_weights

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / 'tests' / 'fixtures' / 'reference'
VIT = dict(model_name='vit_tiny_patch16_224', img_size=16, patch_size=8, embed_dim=24, depth=2, num_heads=2)

# fixture -> (checkpoint file, layout, our backbone of the recorded model's size, has a distinct EMA)
CASES = {
    'transmix_vit_tiny': ('transmix_vit_tiny.pth.tar', 'transmix', VIT, True),
    'transmix_xcit_tiny': ('transmix_xcit_tiny.pth', 'transmix',
                           dict(model_name='xcit_nano_12_p16_224', img_size=32, embed_dim=16, depth=2, num_heads=2,
                                eta=1.0, tokens_norm=True), False),
    'transmix_cait_tiny': ('transmix_cait_tiny.pth', 'transmix',
                           dict(model_name='cait_xxs24_224', img_size=16, patch_size=8, embed_dim=16, depth=2,
                                num_heads=2, init_values=1e-5, depth_token_only=2), False),
    'openmixup_resnet_cifar_tiny': ('openmixup_resnet_cifar_tiny.pth', 'openmixup',
                                    dict(model_name='resnet18', channels=(2, 4, 8, 16), cifar_stem=True), False),
    'openmixup_vit_tiny': ('openmixup_vit_tiny.pth', 'openmixup', VIT, False),
}


def _model(backbone: dict, num_classes: int = 5):
    return MODELS.build(dict(type='ImageClassifier', backbone=dict(type='TimmBackbone', **backbone),
                             head=dict(type='LinearClsHead', num_classes=num_classes))).eval()


def _logits(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x), mode='tensor')


@pytest.mark.parametrize('name', list(CASES))
def test_release_converts_to_official_logits(name):
    file, layout, backbone, has_ema = CASES[name]
    ref = np.load(FIX / f'{name}.npz')
    checkpoint = load_checkpoint_file(FIX / file)  # weights-only (argparse.Namespace allow-listed)
    assert detect_layout(checkpoint) == layout
    for ema in (False, True) if layout == 'transmix' else (False,):
        converted = convert_checkpoint(checkpoint, ema=ema)
        assert converted['meta']['converted_from'] == layout
        model = _model(backbone)
        result = model.load_state_dict(converted['state_dict'], strict=True)
        assert not result.missing_keys and not result.unexpected_keys
        diff = (_logits(model, ref['x']) - torch.from_numpy(ref['logits_ema' if ema else 'logits'])).abs().max()
        n_src = len(checkpoint['state_dict_ema' if ema else 'state_dict'] if 'state_dict' in checkpoint
                    else checkpoint['model_ema' if ema else 'model'])
        print(f'{name}{" EMA" if ema else ""}: {n_src} official keys -> {len(converted["state_dict"])} openmix keys, '
              f'max |logit diff| {diff:.3g}')
        assert diff < 1e-5
    if has_ema:  # the EMA fixture really differs from the raw weights
        assert np.abs(ref['logits'] - ref['logits_ema']).max() > 1e-2


# full-size official key/shape lists -> the model of the config that trains that row
FULL = [
    ('transmix_deit_s_keys.json', 'configs/deit_s_transmix.py'),
    ('transmix_xcit_keys.json', 'configs/transmix/xcit_s12_transmix.py'),
    ('transmix_cait_keys.json', 'configs/transmix/cait_xxs24_transmix.py'),
    ('openmixup_resnet18_cifar_keys.json', 'configs/mixups/c100_r18_800e_cutmix.py'),
    ('openmixup_deit_s_keys.json', 'configs/mixups/in_deit_s_300e_cutmix.py'),
    ('openmixup_resnet50_keys.json', 'configs/mixups/in_r50_100e_cutmix.py'),
    ('openmixup_resnext50_cifar_keys.json', 'configs/mixups/c100_rx50_800e_cutmix.py'),
]


@pytest.mark.parametrize('keys, config', FULL)
def test_full_size_official_layout_loads_strictly_into_the_config_model(keys, config):
    shapes = json.loads((FIX / keys).read_text())
    model = MODELS.build(Config.fromfile(ROOT / config).model)
    num_classes, width = model.head.fc.weight.shape
    state = {k: torch.zeros(s) for k, s in shapes.items() if not k.startswith('head')}
    if keys.startswith('openmixup'):  # the key lists hold the backbone; the heads are one Linear (ClsHead: fc)
        head = 'head.layers.head' if 'deit' in keys else 'head.fc'
    else:
        head = 'head'
    state.update({f'{head}.weight': torch.zeros(num_classes, width), f'{head}.bias': torch.zeros(num_classes)})
    converted = convert_checkpoint({'state_dict': state})['state_dict']
    result = model.load_state_dict(converted, strict=False)
    assert not result.unexpected_keys
    assert result.missing_keys == []


def test_load_from_and_load_model_weights_take_release_files(tmp_path):
    """mmengine's checkpoint loader (what ``Runner.load_checkpoint`` / ``load_from`` calls) and ``tools/test.py``'s
    ``load_model_weights`` convert on load; EMA of a release via ``--ema``."""
    ref = np.load(FIX / 'transmix_vit_tiny.npz')
    model = _model(VIT)
    checkpoint = CheckpointLoader.load_checkpoint(str(FIX / 'transmix_vit_tiny.pth.tar'), map_location='cpu')
    _load_checkpoint_to_model(model, checkpoint, strict=True)
    assert (_logits(model, ref['x']) - torch.from_numpy(ref['logits'])).abs().max() < 1e-5
    model = _model(VIT)
    load_model_weights(model, str(FIX / 'transmix_vit_tiny.pth.tar'), ema=True)
    assert (_logits(model, ref['x']) - torch.from_numpy(ref['logits_ema'])).abs().max() < 1e-5
    model = _model(dict(model_name='resnet18', channels=(2, 4, 8, 16), cifar_stem=True))
    load_model_weights(model, str(FIX / 'openmixup_resnet_cifar_tiny.pth'))
    ref = np.load(FIX / 'openmixup_resnet_cifar_tiny.npz')
    assert (_logits(model, ref['x']) - torch.from_numpy(ref['logits'])).abs().max() < 1e-5


def test_official_lvvit_goes_through_the_same_loader(tmp_path):
    """Token Labeling's LV-ViT release (a bare state dict) is detected and converted by the loader too."""
    from tests.models.test_lvvit_reference import REF, STATE, _eval_logits, _tiny
    torch.save(STATE, tmp_path / 'lvvit_tiny.pth.tar')
    checkpoint = CheckpointLoader.load_checkpoint(str(tmp_path / 'lvvit_tiny.pth.tar'), map_location='cpu')
    assert checkpoint['meta']['converted_from'] == 'tokenlabeling'
    model = _tiny()
    _load_checkpoint_to_model(model, checkpoint, strict=True)
    diff = (_eval_logits(model)[2] - torch.from_numpy(REF['eval_out'])).abs().max()
    print(f'lvvit_tiny: {len(STATE)} official keys -> {len(checkpoint["state_dict"])} openmix keys, max |logit diff| '
          f'{diff:.3g}')
    assert diff < 1e-5


def test_openmix_checkpoints_pass_unchanged():
    model = _model(VIT)
    checkpoint = dict(state_dict=model.state_dict(), meta=dict(epoch=1))
    assert detect_layout(checkpoint) == 'openmix' and convert_checkpoint(checkpoint) is checkpoint
    # anything an mmengine Runner wrote is left alone, whatever its parameter names (a toy model's `backbone.conv`)
    runner_written = dict(state_dict={'backbone.conv.weight': torch.zeros(1)}, message_hub={}, meta={})
    assert convert_checkpoint(runner_written) is runner_written


@pytest.mark.parametrize('key, match', [
    ('dist_token', 'distilled DeiT'),
    ('patch_embed1.proj.weight', 'PVT v1'),
    ('pre_logits.fc.weight', 'representation layer'),
])
def test_releases_without_openmix_counterpart_are_refused(key, match):
    state = dict(cls_token=torch.zeros(1, 1, 8), **{key: torch.zeros(1)})
    with pytest.raises(KeyError, match=match):
        convert_transmix(dict(state_dict=state))


def test_openmixup_training_only_parts_are_dropped():
    checkpoint = load_checkpoint_file(FIX / 'openmixup_vit_tiny.pth')
    extra = dict(checkpoint['state_dict'], **{'backbone_k.conv1.weight': torch.zeros(1), 'mix_block.x': torch.zeros(1)})
    assert convert_checkpoint({'state_dict': extra})['state_dict'].keys() == \
        convert_checkpoint(checkpoint)['state_dict'].keys()


def test_convert_checkpoint_cli(tmp_path):
    out = tmp_path / 'deit_openmix.pth'
    run = subprocess.run([sys.executable, str(ROOT / 'tools' / 'convert_checkpoint.py'),
                          str(FIX / 'transmix_vit_tiny.pth.tar'), str(out), '--from', 'transmix', '--ema'],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    converted = torch.load(out, weights_only=True)
    assert converted['meta']['converted_from'] == 'transmix' and converted['meta']['ema'] is True
    model = _model(VIT)
    load_model_weights(model, str(out))
    ref = np.load(FIX / 'transmix_vit_tiny.npz')
    assert (_logits(model, ref['x']) - torch.from_numpy(ref['logits_ema'])).abs().max() < 1e-5
