"""tools/test.py with --ece, --reliability-png, --occlusion and --patch-shuffle on a tiny config and checkpoint."""
import json

import pytest
import torch

from .conftest import ROOT, run_cli, tiny_demo_config


def test_test_cli_writes_calibration_and_robustness(tmp_path, demo_root):
    pytest.importorskip('matplotlib')
    from mmengine.config import Config

    from openmix.registry import MODELS
    cfg = tiny_demo_config(tmp_path, demo_root)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(cfg)).model)  # random weights: enough to exercise the evaluation
    ckpt = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out, png = tmp_path / 'metrics.json', tmp_path / 'plots' / 'reliability.png'
    # 32 px images, patch 8: N = 16 patches; ratio 0 and grid 1 must give the clean top-1
    proc = run_cli([str(ROOT / 'tools/test.py'), str(cfg), str(ckpt), '--work-dir', str(tmp_path / 'work'),
                    '--out', str(out), '--reliability-png', str(png), '--occlusion', '0', '0.5',
                    '--patch-shuffle', '1', '4'], cwd=tmp_path)
    payload = json.loads(out.read_text())
    metrics = payload['metrics']
    keys = {'accuracy/top1', 'calibration/ece', 'robustness/occlusion_0/top1', 'robustness/occlusion_0.5/top1',
            'robustness/patch_shuffle_1/top1', 'robustness/patch_shuffle_4/top1'}
    assert keys <= set(metrics)
    assert 0 <= metrics['calibration/ece'] <= 100
    assert metrics['robustness/occlusion_0/top1'] == pytest.approx(metrics['accuracy/top1'], abs=1e-6)
    assert metrics['robustness/patch_shuffle_1/top1'] == pytest.approx(metrics['accuracy/top1'], abs=1e-6)
    assert payload['robustness']['occlusion_patch_size'] == [8, 8]  # the model's
    assert payload['calibration']['n_bins'] == 15
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'patch shuffle 4x4' in proc.stdout and 'occlusion ratio 0.5' in proc.stdout


def test_test_cli_rejects_bad_ratios(tmp_path):
    from tools.test import parse_args
    with pytest.raises(SystemExit):
        parse_args(['c.py', 'x.pth', '--occlusion', '1.5'])
    args = parse_args(['c.py', 'x.pth', '--reliability-png', 'r.png'])
    assert args.ece and args.occlusion is None and args.patch_shuffle is None
    assert not parse_args(['c.py', 'x.pth']).ece
    assert parse_args(['c.py', 'x.pth']).occlusion_fill == 'black'  # Naseer et al.'s convention by default
    assert parse_args(['c.py', 'x.pth', '--occlusion-fill', 'mean']).occlusion_fill == 'mean'


def test_add_test_metric_keeps_the_config_metrics():
    from mmengine.config import Config

    from tools.test import add_test_metric
    cfg = Config(dict(test_evaluator=dict(type='Accuracy', topk=(1, 5)), val_evaluator=dict(type='Accuracy')))
    add_test_metric(cfg, dict(type='CalibrationError'))
    assert [m['type'] for m in cfg.test_evaluator] == ['Accuracy', 'CalibrationError']
    assert cfg.val_evaluator == dict(type='Accuracy')
    cfg = Config(dict(test_evaluator=dict(type='Evaluator', metrics=dict(type='Accuracy'))))
    add_test_metric(cfg, dict(type='CalibrationError'))
    assert [m['type'] for m in cfg.test_evaluator['metrics']] == ['Accuracy', 'CalibrationError']

