"""Unknown keys and values of the wrong type fail in load_config, before anything is built (issue 11, items 7, 8).

The probes of the issue run as a user runs them: a real config file plus ``--cfg-options`` through ``load_config``,
and once through a real ``tools/train.py`` process.
"""
from __future__ import annotations

import os
import subprocess
import sys
from argparse import Namespace

import pytest
from mmengine.hooks import CheckpointHook

from openmix.apis import load_config
from openmix.apis.arg_check import ConfigArgError, accepted_params, check_args, expected_type
from openmix.registry import MIXERS, MODELS, OPTIM_WRAPPERS, PARAM_SCHEDULERS

from .integration.conftest import ROOT, tiny_demo_config


@pytest.fixture
def config(tmp_path):
    return tiny_demo_config(tmp_path, tmp_path / 'never_generated')


def load(config, *options):
    return load_config(Namespace(config=str(config), cfg_options=list(options), work_dir=str(config.parent / 'wd')))


# (override, words the message must hold: the full key, then the expected type or the closest valid name)
PROBES = [
    ('optim_wrapper.optimizer.lr=abc', ['`optim_wrapper.optimizer.lr`', 'AdamW', 'expected float', "'abc'"]),
    ("optim_wrapper.optimizer.lr='1e-3'", ['`optim_wrapper.optimizer.lr`', 'expected float', 'without them']),
    ('default_hooks.checkpoint.intervl=1', ['`default_hooks.checkpoint.intervl`', 'CheckpointHook',
                                            'Did you mean: interval?']),
    ('auto_scale_lr.base_batchsize=8', ['`auto_scale_lr.base_batchsize`', 'Did you mean: base_batch_size?']),
    ('train_cfg.max_epoch=3', ['`train_cfg.max_epoch`', 'max_epochs']),
    ('model.mixer.mixers.1.alpah=1.0', ['`model.mixer.mixers.1.alpah`', 'CutMix', 'alpha']),  # **kwargs -> BaseMixer
    ('model.head.num_classes=ten', ['`model.head.num_classes`', 'expected int']),
    ('train_dataloader.drop_last=yes', ['`train_dataloader.drop_last`', 'expected bool']),
    ('train_dataloader.batchsize=8', ['`train_dataloader.batchsize`', 'batch_size']),
    ('randomness.sed=1', ['`randomness.sed`', 'seed']),
    ('env_cfg.mp_cfg.opencv_num_thread=0', ['`env_cfg.mp_cfg.opencv_num_thread`', 'opencv_num_threads']),
    ('param_scheduler.1.eta_mn=0.0', ['`param_scheduler.1.eta_mn`', 'eta_min']),
    ('model.backbone.embed_layer.stem_chanels=8', ['`model.backbone.embed_layer.stem_chanels`', 'stem_channels']),
    ('optim_wrapper.nonfinit="skip"', ['`optim_wrapper.nonfinit`', 'nonfinite']),
    ('val_evaluator.top_k=(1,)', ['`val_evaluator.top_k`', 'topk']),
]


@pytest.mark.parametrize('option,words', PROBES, ids=[p[0].split('=')[0] for p in PROBES])
def test_probe_fails_in_load_config_naming_the_key(config, option, words):
    with pytest.raises(ConfigArgError) as err:
        load(config, option)
    for word in words:
        assert word in str(err.value), str(err.value)
    assert not (config.parent / 'never_generated').exists()  # nothing was built: the demo data is made on build


def test_valid_overrides_and_kwargs_passed_to_timm_pass(config):
    cfg = load(config, 'optim_wrapper.optimizer.lr=1e-3', 'default_hooks.checkpoint.interval=2',
               'auto_scale_lr.base_batch_size=8', 'train_dataloader.drop_last=True',
               'model.backbone.drop_rate=0.1')  # TimmBackbone hands **kwargs to timm.create_model: not checked
    assert cfg.optim_wrapper.optimizer.lr == 1e-3 and cfg.default_hooks.checkpoint.interval == 2


def test_kwargs_chain_follows_the_base_inits():
    assert 'interval' in accepted_params(CheckpointHook)  # kwargs kept for save_checkpoint: named ones only
    assert 'intervl' not in accepted_params(CheckpointHook)
    cutmix = accepted_params(MIXERS.get('CutMix'))
    assert {'alpha', 'prob', 'pairing', 'seed', 'correct_lam'} <= set(cutmix)  # prob/pairing/seed: BaseMixer's
    assert accepted_params(MODELS.get('TimmBackbone')) is None  # handed to timm.create_model: any name may be valid
    guarded = accepted_params(OPTIM_WRAPPERS.get('GuardedOptimWrapper'))
    assert {'nonfinite', 'clip_grad', 'accumulative_counts'} <= set(guarded)
    cosine = accepted_params(PARAM_SCHEDULERS.get('CosineAnnealingLR'))  # mixin -> CosineAnnealingParamScheduler
    assert {'eta_min', 'T_max', 'begin', 'end', 'by_epoch'} <= set(cosine)

    class Base:
        def __init__(self, a: int = 1) -> None:
            self.a = a

    class Child(Base):
        def __init__(self, b: bool = False, **kwargs) -> None:
            super().__init__(**kwargs)

    class Opaque(Base):
        def __init__(self, **kwargs) -> None:
            super().__init__()
            self.impl = dict(**kwargs)

    assert set(accepted_params(Child)) == {'a', 'b'}
    assert accepted_params(Opaque) is None
    with pytest.raises(ConfigArgError, match=r'`x.c`: Child takes no argument .c.'):
        check_args({'c': 1}, 'x', Child)
    with pytest.raises(ConfigArgError, match='expected bool'):
        check_args({'b': 'False'}, 'x', Child)


def test_expected_types_only_where_clear():
    import inspect

    def f(a: float = 1.0, b: int | None = None, c: str | float = 1.0, d=0.5, e: tuple[int, int] = (1, 2),
          g: bool = True, h=None):  # annotations are strings here (from __future__ import annotations)
        pass

    want = {n: expected_type(p) for n, p in inspect.signature(f).parameters.items()}
    assert want == dict(a=float, b=int, c=None, d=float, e=None, g=bool, h=None)


def test_train_cli_refuses_before_building(tmp_path):
    data_root = tmp_path / 'demo'
    config = tiny_demo_config(tmp_path, data_root)
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'train.py'), str(config), '--work-dir',
                           str(tmp_path / 'wd'), '--cfg-options', 'optim_wrapper.optimizer.lr=abc'],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert 'config key `optim_wrapper.optimizer.lr` (AdamW): expected float, got str \'abc\'' in proc.stderr
    assert 'torch/optim' not in proc.stderr  # not from inside torch's AdamW
    assert not data_root.exists() and not (tmp_path / 'wd').exists()  # no dataset, no runner was built
