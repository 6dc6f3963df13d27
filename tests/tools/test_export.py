"""tools/export.py: an openmix checkpoint (raw and EMA weights) exported as safetensors + JSON loads in timm alone
(``timm.create_model(..., pretrained=True, pretrained_cfg_overlay=dict(file=...))`` in a fresh process without
openmix) and gives openmix's logits; models without a timm equivalent are refused by name."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from openmix.registry import MODELS
from openmix.utils.convert import ExportError, to_timm
from tools.export import main as export_main

ROOT = Path(__file__).resolve().parents[2]
MEAN, STD = (125.307, 122.961, 113.8575), (51.5865, 50.847, 51.255)
BACKBONE = dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32, patch_size=8, embed_dim=64,
                depth=2, num_heads=2, drop_path_rate=0.1)
CONFIG = f"""model = dict(type='ImageClassifier', data_preprocessor=dict(type='ClsDataPreprocessor', mean={MEAN},
                                                                    std={STD}),
             backbone={BACKBONE!r}, head=dict(type='LinearClsHead', num_classes=7))
"""

# runs in a fresh interpreter: only timm / torch / json; fails if openmix gets imported
TIMM_ONLY = r"""
import json, sys
import timm, torch
out = {}
for folder in sys.argv[2:]:
    meta = json.load(open(f'{folder}/openmix_export.json'))
    model = timm.create_model(meta['model_name'], pretrained=True, **meta['kwargs'],
                              pretrained_cfg_overlay=dict(meta['pretrained_cfg_overlay'],
                                                          file=f'{folder}/{meta["weights"]}')).eval()
    cfg = timm.data.resolve_data_config({}, model=model)
    x = torch.load(sys.argv[1])
    with torch.no_grad():
        out[folder] = dict(logits=model(x).tolist(), mean=list(cfg['mean']), std=list(cfg['std']),
                           input_size=list(cfg['input_size']))
assert not any(m.startswith('openmix') for m in sys.modules), 'openmix was imported'
print(json.dumps(out))
"""


def _env():
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    return env


def test_export_round_trip_raw_and_ema(tmp_path):
    cfg = tmp_path / 'tiny_vit.py'
    cfg.write_text(CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(cfg).model)
    raw = model.state_dict()
    ema = {f'module.{k}': v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v for k, v in raw.items()}
    torch.save(dict(meta=dict(epoch=3), state_dict=raw, ema_state_dict=ema,
                    message_hub=dict(runtime_info=dict(best_score=42.5), log_scalars={}, resumed_keys={})),
               tmp_path / 'epoch_3.pth')
    outs = {name: tmp_path / f'export_{name}' for name in ('raw', 'ema')}
    run = subprocess.run([sys.executable, str(ROOT / 'tools' / 'export.py'), str(cfg), str(tmp_path / 'epoch_3.pth'),
                          '--out', str(outs['ema']), '--ema'], capture_output=True, text=True, env=_env(),
                         cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    export_main([str(cfg), str(tmp_path / 'epoch_3.pth'), '--out', str(outs['raw'])])  # same entry point, in-process
    for out in outs.values():
        assert sorted(p.name for p in out.iterdir()) == ['model.safetensors', 'openmix_export.json']
    meta = json.loads((outs['ema'] / 'openmix_export.json').read_text())
    assert meta['model_name'] == 'vit_tiny_patch16_224' and meta['ema'] is True
    assert meta['kwargs'] == dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=2, drop_path_rate=0.1,
                                  num_classes=7)
    assert meta['metric'] == dict(name='accuracy/top1', value=42.5)
    assert meta['input_size'] == [3, 32, 32] and meta['mean_255'] == list(MEAN)
    assert 'vit_tiny_patch16_224' in meta['config']

    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.save(x, tmp_path / 'x.pt')
    run = subprocess.run([sys.executable, '-c', TIMM_ONLY, str(tmp_path / 'x.pt'), str(outs['raw']), str(outs['ema'])],
                         capture_output=True, text=True, env=dict(_env(), PYTHONPATH=''), cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    model.eval()
    for name, state in (('raw', raw), ('ema', {k[len('module.'):]: v for k, v in ema.items()})):
        model.load_state_dict(state)
        with torch.no_grad():
            want = model(x, mode='tensor')
        got = loaded[str(outs[name])]
        diff = (torch.tensor(got['logits']) - want).abs().max().item()
        print(f'export round trip ({name}): max |logit diff| {diff:.3g} over {want.numel()} logits '
              f'(max |logit| {want.abs().max():.3g})')
        assert diff < 1e-5
        assert got['input_size'] == [3, 32, 32]
        assert got['mean'] == pytest.approx([m / 255 for m in MEAN]) and got['std'] == pytest.approx(
            [s / 255 for s in STD])
    raw_logits = torch.tensor(loaded[str(outs['raw'])]['logits'])
    assert (raw_logits - torch.tensor(loaded[str(outs['ema'])]['logits'])).abs().max() > 1e-3  # EMA really differs


@pytest.mark.parametrize('backbone, match', [
    (dict(type='TimmBackbone', model_name='resnet18', cifar_stem=True), 'cifar_stem'),
    (dict(BACKBONE, embed_layer=dict(type='ConvStemPatchEmbed', stem_channels=8)), 'ConvStemPatchEmbed'),
    (dict(BACKBONE, type='ClassAttentionHeadBackbone', ca_blocks=1), 'ClassAttentionHeadBackbone'),
])
def test_export_refuses_models_without_timm_equivalent(backbone, match):
    model = MODELS.build(dict(type='ImageClassifier', backbone=backbone,
                              head=dict(type='LinearClsHead', num_classes=3)))
    with pytest.raises(ExportError, match=match):
        to_timm(model, backbone)


def test_export_names_the_timm_classifier():
    """ResNet's classifier is ``fc``: ``head.fc.*`` lands there and the timm model takes the state dict strictly."""
    import timm
    backbone = dict(type='TimmBackbone', model_name='resnet10t')
    model = MODELS.build(dict(type='ImageClassifier', backbone=backbone,
                              head=dict(type='LinearClsHead', num_classes=5)))
    name, kwargs, state = to_timm(model.eval(), backbone)
    assert torch.equal(state['fc.weight'], model.head.fc.weight) and 'head.fc.weight' not in state
    ref = timm.create_model(name, **kwargs).eval()
    ref.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (ref(x) - model(x, mode='tensor')).abs().max() < 1e-5


def test_export_of_a_transmix_release(tmp_path):
    """A released TransMix checkpoint (recorded with the official code) exports as it is: converted on load, its EMA
    with ``--ema``, its ``metric`` recorded; the timm model gives the official logits."""
    import numpy as np
    import timm
    fix = ROOT / 'tests' / 'fixtures' / 'reference'
    cfg = tmp_path / 'tiny_deit.py'
    cfg.write_text("model = dict(type='ImageClassifier', backbone=dict(type='TimmBackbone', "
                   "model_name='vit_tiny_patch16_224', img_size=16, patch_size=8, embed_dim=24, depth=2, num_heads=2), "
                   "head=dict(type='LinearClsHead', num_classes=5))\n")
    export_main([str(cfg), str(fix / 'transmix_vit_tiny.pth.tar'), '--out', str(tmp_path / 'out'), '--ema'])
    meta = json.loads((tmp_path / 'out' / 'openmix_export.json').read_text())
    assert meta['metric'] == dict(name='top1', value=12.5) and meta['input_size'] == [3, 16, 16]
    model = timm.create_model(meta['model_name'], pretrained=True, **meta['kwargs'], pretrained_cfg_overlay=dict(
        meta['pretrained_cfg_overlay'], file=str(tmp_path / 'out' / 'model.safetensors'))).eval()
    ref = np.load(fix / 'transmix_vit_tiny.npz')
    with torch.no_grad():
        diff = (model(torch.from_numpy(ref['x'])) - torch.from_numpy(ref['logits_ema'])).abs().max().item()
    print(f'TransMix release -> timm export: max |logit diff| vs official EMA logits {diff:.3g}')
    assert diff < 1e-5


def test_export_cli_refuses_before_reading_weights(tmp_path):
    """A CIFAR ResNet config (3x3/1 stem) is refused by name; the checkpoint is not even opened."""
    with pytest.raises(ExportError, match='cifar_stem'):
        export_main([str(ROOT / 'configs/mixups/c100_r18_800e_cutmix.py'), str(tmp_path / 'missing.pth'),
                     '--out', str(tmp_path / 'out')])
    assert not (tmp_path / 'out').exists()
