"""RunConfig (openmix.apis.config): mmengine's ``pretty_text`` formatted once per content, so checkpoints do not each
pay for a yapf pass; a changed config is re-formatted; copies and pickles keep the class and the text."""
from __future__ import annotations

import copy
import pickle
from argparse import Namespace

import mmengine.config.config as mm_config
from mmengine.config import Config

from openmix.apis import load_config
from openmix.apis.config import RunConfig


def count_yapf(monkeypatch) -> list:
    calls = []
    real = mm_config.FormatCode

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(mm_config, 'FormatCode', counted)
    return calls


def test_pretty_text_is_formatted_once_per_content(monkeypatch, tmp_path):
    calls = count_yapf(monkeypatch)
    cfg = load_config(Namespace(config='configs/demo.py', work_dir=str(tmp_path)))
    assert isinstance(cfg, RunConfig)
    text = cfg.pretty_text
    assert text == Config.pretty_text.fget(cfg) and len(calls) == 2  # ours, then mmengine's own for the comparison
    for _ in range(5):
        assert cfg.pretty_text == text
    assert len(calls) == 2
    cfg.train_cfg.max_epochs = 123  # a change shows in the next text
    assert 'max_epochs=123' in cfg.pretty_text.replace(' ', '') and len(calls) == 3
    clone = copy.deepcopy(cfg)  # what mmengine's Runner keeps
    assert type(clone) is RunConfig and clone.pretty_text == cfg.pretty_text and len(calls) == 3
    back = pickle.loads(pickle.dumps(cfg))
    assert type(back) is RunConfig and back.pretty_text == cfg.pretty_text
