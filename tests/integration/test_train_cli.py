"""End to end: tools/train.py on the demo data, tools/test.py on its checkpoint, bad input messages."""
import json
from pathlib import Path

import pytest
import torch

from .conftest import ROOT, run_cli, tiny_demo_config


def read_scalars(work_dir: Path) -> list[dict]:
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert files, f'no scalars.json under {work_dir}'
    return [json.loads(line) for line in files[-1].read_text().splitlines()]


def test_train_then_test_cli(tmp_path, demo_root):
    cfg = tiny_demo_config(tmp_path, demo_root)
    work = tmp_path / 'work'
    proc = run_cli([str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(work)], cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert 'eta:' in out  # progress with ETA in the log
    assert 'checkpoint:' in proc.stdout and 'tensorboard:' in proc.stdout
    last = Path((work / 'last_checkpoint').read_text().strip())
    assert last.name == 'epoch_2.pth' and last.exists()
    assert not list(work.glob('*.tmp*'))  # atomic writes leave no temporary files
    rows = [r for r in read_scalars(work) if 'accuracy/top1' in r]
    assert [r['step'] for r in rows] == [1, 2]
    assert all('ema/accuracy/top1' in r and 0 <= r['accuracy/top1'] <= 100 for r in rows)
    assert list(work.glob('*/vis_data/events.out.tfevents.*'))  # TensorBoard
    ckpt = torch.load(last, map_location='cpu', weights_only=True)
    assert {'state_dict', 'ema_state_dict', 'optimizer', 'param_schedulers', 'meta'} <= set(ckpt)

    test = run_cli([str(ROOT / 'tools/test.py'), str(cfg), str(last), '--work-dir', str(work)], cwd=tmp_path)
    metrics = json.loads((work / 'test_metrics.json').read_text())['metrics']
    assert metrics['accuracy/top1'] == pytest.approx(rows[-1]['accuracy/top1'], abs=1e-6)
    assert 'accuracy/top1' in test.stdout
    run_cli([str(ROOT / 'tools/test.py'), str(cfg), str(last), '--ema', '--work-dir', str(work)], cwd=tmp_path)
    ema = json.loads((work / 'test_metrics_ema.json').read_text())['metrics']
    assert ema['accuracy/top1'] == pytest.approx(rows[-1]['ema/accuracy/top1'], abs=1e-6)


def test_unknown_type_names_the_config_key(tmp_path, demo_root):
    from openmix.apis import load_config
    from tools.train import parse_args
    cfg = tiny_demo_config(tmp_path, demo_root)
    with pytest.raises(KeyError, match=r"'Mixpu' \(config key `model.mixer.mixers.0.type`\).*'mixer' registry.*Mixup"):
        load_config(parse_args([str(cfg), '--cfg-options', "model.mixer.mixers.0.type='Mixpu'"]))
    with pytest.raises(KeyError, match=r'`model.mixr` is not in the config.*mixer'):
        load_config(parse_args([str(cfg), '--cfg-options', 'model.mixr.alpha=1']))


def test_cfg_options_are_literals_not_code(tmp_path, demo_root):
    from openmix.apis import load_config
    from tools.train import parse_args
    cfg = load_config(parse_args([str(tiny_demo_config(tmp_path, demo_root)), '--cfg-options',
                                  'train_cfg.max_epochs=7', 'model.mixer.probs=[0.2,0.8]',
                                  "work_dir=__import__('os').getcwd()",
                                  "custom_hooks=[dict(type='EMAHook', momentum=0.9, begin_iter=-2)]",
                                  'val_evaluator.topk=(1, 3)']))
    assert cfg.train_cfg.max_epochs == 7 and cfg.model.mixer.probs == [0.2, 0.8]
    assert cfg.custom_hooks[0] == dict(type='EMAHook', momentum=0.9, begin_iter=-2)  # dict(...) of literals
    assert cfg.val_evaluator.topk == (1, 3)
    assert [h['type'] for h in cfg.custom_hooks[1:4]] == ['RandomStateHook', 'SkippedImagesHook', 'NonFiniteCheckHook']
    assert cfg.work_dir == "__import__('os').getcwd()"  # kept as a string, never evaluated


def test_visualize_mix_writes_a_grid_with_attention_for_transmix(tmp_path, demo_root):
    from PIL import Image

    from tools.visualize_mix import main
    cfg = tiny_demo_config(tmp_path, demo_root)
    out = main([str(cfg), '--method', 'CutMix', '--num', '3', '--out', str(tmp_path / 'grid.png')])
    img = Image.open(out)
    assert img.size == (5 * (96 + 4), 3 * (96 + 18) + 18)  # five columns: A, B, mix, mask, attention
    out = main([str(cfg), '--method', 'FMix', '--num', '2', '--out', str(tmp_path / 'fmix.png'),
                '--cfg-options', "model.label_assigner=dict(_delete_=True, type='AreaLabel')"])
    assert Image.open(out).size == (4 * (96 + 4), 2 * (96 + 18) + 18)  # no attention column with area labels


def test_visualize_mix_shows_automix_masks_beside_cutmix(tmp_path, demo_root, capsys):
    import numpy as np
    from PIL import Image

    from tools.visualize_mix import main

    from .test_resume import AUTOMIX_MODEL
    cfg = tiny_demo_config(tmp_path, demo_root, model=AUTOMIX_MODEL, custom_hooks=[])
    out = main([str(cfg), '--num', '3', '--out', str(tmp_path / 'automix.png')])
    img = Image.open(out)
    assert img.size == (6 * (96 + 4), 3 * (96 + 18) + 18)  # A, B, CutMix mix/mask, MixBlock mix/mask
    assert 'cutmix mix, cutmix mask, AutoMix mix, AutoMix mask' in capsys.readouterr().out
    # the MixBlock columns are the model's mask: an untrained MixBlock (weights ~N(0, 0.01)) gives ~0.5 everywhere,
    # drawn by _heat as (1, 0.5, 0) * (0.25 + 0.75 * 0.5) in the mask tile of the first row
    tile = np.asarray(img)[18 + 10:18 + 86, 5 * 100 + 10:5 * 100 + 86].reshape(-1, 3).astype(float)
    np.testing.assert_allclose(tile.mean(0), [255 * 0.625, 255 * 0.3125, 0], atol=3)
