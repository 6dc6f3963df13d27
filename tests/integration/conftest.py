import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


#: The EMA of the tiny runs (fixed here so tests that re-list custom_hooks stay in step with it).
EMA_HOOK = dict(type='EMAHook', momentum=0.99)


def tiny_demo_config(tmp_path: Path, data_root: Path, train_workers: int = 0, **overrides) -> Path:
    """A config file over configs/demo.py shrunk to seconds: tiny data, 32 px, 2 blocks, no workers."""
    extra = '\n'.join(f'{k} = {v!r}' for k, v in overrides.items())
    text = f"""
_base_ = [{str(ROOT / 'configs' / 'demo.py')!r}]
demo_args = dict(num_classes=11, train_per_class=8, val_per_class=3, image_size=32, seed=0, class_colour_prob=0.0)
# pinned to the values these tests were written against (configs/demo.py itself is tuned for its own budget)
model = dict(backbone=dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2,
                           embed_layer=dict(type='ConvStemPatchEmbed', stem_channels=32, stem_stride=2)),
             head=dict(num_classes=11))
optim_wrapper = dict(optimizer=dict(lr=3e-4))
train_dataloader = dict(batch_size=16, num_workers={train_workers}, dataset=dict(data_root={str(data_root)!r}, **demo_args,
    pipeline=[dict(type='RandomResizedCrop', size=32, scale=(0.35, 1.0), interpolation='bicubic'),
              dict(type='RandomHorizontalFlip', prob=0.5),
              dict(type='RandAugment', config_str='rand-m9-mstd0.5-inc1', img_mean=(124, 116, 104), img_size=32),
              dict(type='PackInputs')]))
val_dataloader = dict(batch_size=4, num_workers=0, dataset=dict(data_root={str(data_root)!r}, **demo_args))
test_dataloader = val_dataloader
max_epochs = 2
param_scheduler = [
    dict(type='LinearWarmupLR', start_lr=1e-6, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=1, max_keep_ckpts=5))
custom_hooks = [{EMA_HOOK!r}]
{extra}
"""
    path = tmp_path / 'tiny_demo.py'
    path.write_text(text)
    return path


def run_cli(args: list[str], cwd: Path, timeout: int = 300, **env) -> subprocess.CompletedProcess:
    full_env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1', **env}
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise AssertionError(f'command failed ({proc.returncode}): {args}\n--- stdout\n{proc.stdout[-4000:]}\n'
                             f'--- stderr\n{proc.stderr[-6000:]}')
    return proc


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp('data') / 'demo_tiny'
