"""Resume is exact: 2 epochs straight == 1 epoch, stop, resume for the 2nd (bit-identical weights, CPU)."""
from pathlib import Path

import torch

from .conftest import EMA_HOOK, ROOT, run_cli, tiny_demo_config

STOP_HOOK = '''
from mmengine.hooks import Hook
from openmix.registry import HOOKS


@HOOKS.register_module(force=True)
class StopAfterEpoch(Hook):
    """Simulates a crash right after the epoch's checkpoint was written."""
    priority = 'LOWEST'

    def __init__(self, epoch):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.epoch:  # the loop counts the finished epoch only after this hook
            raise SystemExit(3)
'''


def final_state(work: Path) -> dict:
    return torch.load(work / 'epoch_2.pth', map_location='cpu', weights_only=True)


def assert_same(a, b, path=''):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f'{path} differs'
    elif isinstance(a, dict):
        assert set(a) == set(b), f'{path}: keys differ'
        for k in a:
            assert_same(a[k], b[k], f'{path}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f'{path}[{i}]')


def test_resume_is_bit_identical(tmp_path, demo_root):
    (tmp_path / 'stop_hook.py').write_text(STOP_HOOK)
    # one dataloader worker, so the per-epoch worker seeding is covered too
    cfg = tiny_demo_config(tmp_path, demo_root, train_workers=1, custom_imports=dict(imports=['stop_hook']))
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    env = dict(PYTHONPATH=f'{ROOT}:{tmp_path}')
    run_cli([str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(straight), '--deterministic'], tmp_path, **env)
    try:
        run_cli([str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(resumed), '--deterministic',
                 '--cfg-options', f"custom_hooks=[{EMA_HOOK!r}, dict(type='StopAfterEpoch', epoch=1)]"], tmp_path, **env)
        raise AssertionError('the first half should have stopped after epoch 1')
    except AssertionError as err:
        assert 'command failed (3)' in str(err), err
    assert (resumed / 'epoch_1.pth').exists() and not (resumed / 'epoch_2.pth').exists()
    run_cli([str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(resumed), '--deterministic', '--resume'],
            tmp_path, **env)
    a, b = final_state(straight), final_state(resumed)
    for key in ('state_dict', 'ema_state_dict', 'optimizer', 'param_schedulers'):
        assert_same(a[key], b[key], key)
    assert a['meta']['epoch'] == b['meta']['epoch'] == 2


AUTOMIX_MODEL = dict(
    _delete_=True, type='AutoMixClassifier',
    backbone=dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32, patch_size=8, embed_dim=32,
                  depth=2, num_heads=2),
    head=dict(type='LinearClsHead', num_classes=11), loss=dict(type='SoftTargetCrossEntropy'), label_smoothing=0.1,
    mix_block=dict(type='MixBlock', lam_concat=True), mix_layer='blocks.0', momentum=0.99, switch_off=0.8)
AUTOMIX_HOOKS = [EMA_HOOK, dict(type='AutoMixMomentumHook', end_momentum=0.999, adjust_scope=(0.1, 1.0))]


def test_automix_resume_is_bit_identical(tmp_path, demo_root):
    # AutoMix adds its own generator (two lam/permutation draws per step, switch_off coins), the k encoder and heads
    # (EMA, in the state dict) and the momentum schedule hook: a resume must replay all of them
    (tmp_path / 'stop_hook.py').write_text(STOP_HOOK)
    cfg = tiny_demo_config(tmp_path, demo_root, custom_imports=dict(imports=['stop_hook']), model=AUTOMIX_MODEL,
                           custom_hooks=AUTOMIX_HOOKS)
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    env = dict(PYTHONPATH=f'{ROOT}:{tmp_path}')
    run_cli([str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(straight), '--deterministic'], tmp_path, **env)
    stop = [*AUTOMIX_HOOKS, dict(type='StopAfterEpoch', epoch=1)]
    try:
        run_cli([str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(resumed), '--deterministic',
                 '--cfg-options', f'custom_hooks={stop!r}'], tmp_path, **env)
        raise AssertionError('the first half should have stopped after epoch 1')
    except AssertionError as err:
        assert 'command failed (3)' in str(err), err
    run_cli([str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(resumed), '--deterministic', '--resume'],
            tmp_path, **env)
    a, b = final_state(straight), final_state(resumed)
    assert any(k.startswith('backbone_k.') for k in a['state_dict']) and any('mix_block' in k for k in a['state_dict'])
    for key in ('state_dict', 'ema_state_dict', 'optimizer', 'param_schedulers'):
        assert_same(a[key], b[key], key)
    # the k encoder is an average, not a copy of q
    name = 'model.blocks.0.attn.qkv.weight'
    assert not torch.equal(a['state_dict'][f'backbone.{name}'], a['state_dict'][f'backbone_k.{name}'])
