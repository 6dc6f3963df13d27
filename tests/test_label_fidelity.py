"""benchmarks/label_fidelity.py: metric functions on hand-made masks, the demo mask option, one end-to-end run."""
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'benchmarks'))

import label_fidelity as lf  # noqa: E402

from openmix.datasets.demo import render_demo_image, render_demo_sample  # noqa: E402


def square(hw, y0, y1, x0, x1):
    m = torch.zeros(hw)
    m[y0:y1, x0:x1] = 1
    return m


def test_half_covered_square_and_cut_away_object():
    hw = (16, 16)
    # sample 0: object a = 8x8 square in rows 0-8; the CutMix box covers rows 0-4 of it (half) and holds the
    # partner's whole 4x8 object: v_a = 0.5, v_b = 1, t_a = 1/3
    # sample 1: the box covers object a entirely (v_a = 0: cut away) and misses the partner's object (v_b = 0): no t
    # sample 2: object a untouched (v_a = 1), the box shows half of the partner's object (v_b = 0.5): t_a = 2/3
    obj_a = torch.stack([square(hw, 0, 8, 0, 8), square(hw, 4, 8, 4, 8), square(hw, 12, 16, 12, 16)])
    obj_b = torch.stack([square(hw, 0, 4, 0, 8), square(hw, 12, 16, 0, 4), square(hw, 0, 4, 0, 4)])
    box = torch.tensor([[0, 4, 0, 8], [0, 8, 0, 8], [0, 2, 0, 4]])
    weight = lf.box_weight(box, hw)
    assert weight.shape == (3, 1, 16, 16) and weight[0].sum() == 32 and weight[1].sum() == 64
    v_a, v_b = lf.visible_shares(obj_a, obj_b, weight, obj_b.sum((1, 2)))
    assert v_a.tolist() == [0.5, 0.0, 1.0]
    assert v_b.tolist() == [1.0, 0.0, 0.5]
    t = lf.true_share(v_a, v_b)
    assert t[0].item() == pytest.approx(1 / 3) and torch.isnan(t[1]) and t[2].item() == pytest.approx(2 / 3)

    # area labels of these boxes: lam = 1 - box area / 256
    lam = 1 - weight.sum((1, 2, 3)) / 256  # 0.875, 0.75, 0.96875
    m = lf.fidelity_metrics(lam, 1 - lam, v_a, v_b)
    assert m['n'] == 2 and m['n_undefined'] == 1
    assert m['mae'] == pytest.approx(((0.875 - 1 / 3) + (0.96875 - 2 / 3)) / 2)
    assert m['pearson'] == pytest.approx(1.0)  # two points
    # cut-away events: sample 1's a (weight 0.75) and b (weight 0.25): both still named, 2 of 2
    assert m['cut_events'] == 2 and m['cut_hits'] == 2 and m['cut_rate'] == 1.0
    # a label that follows the visible pixels exactly: no error, no weight on what is gone
    exact = lf.fidelity_metrics([1 / 3, 0.0, 2 / 3], [2 / 3, 0.0, 1 / 3], v_a, v_b)
    assert exact['mae'] == pytest.approx(0.0, abs=1e-12) and exact['cut_rate'] == 0.0
    # the threshold is strict: weight 0.01 on a cut-away class is not counted, 0.0101 is
    assert lf.fidelity_metrics([0.5, 0.01, 0.5], [0.5, 0.0101, 0.5], v_a, v_b)['cut_hits'] == 1


def test_mae_uses_both_weights_and_pearson_matches_numpy():
    v_a, v_b = np.array([1.0, 0.5, 0.2, 0.0]), np.array([0.0, 0.5, 0.6, 1.0])
    t_a = v_a / (v_a + v_b)  # 1, 0.5, 0.25, 0
    y_a, y_b = np.array([0.9, 0.5, 0.3, 0.2]), np.array([0.0, 0.5, 0.5, 0.7])  # weights need not sum to 1
    m = lf.fidelity_metrics(y_a, y_b, v_a, v_b)
    want = np.mean(0.5 * (np.abs(y_a - t_a) + np.abs(y_b - (1 - t_a))))
    assert m['mae'] == pytest.approx(want)
    assert m['pearson'] == pytest.approx(np.corrcoef(y_a, t_a)[0, 1])
    assert m['cut_events'] == 2 and m['cut_hits'] == 1  # v_b = 0 with y_b = 0 (no), v_a = 0 with y_a = 0.2 (yes)
    assert np.isnan(lf.pearson(np.ones(3), np.arange(3.0)))


def test_uniform_mixup_weight_makes_area_exact():
    obj_a = torch.rand(4, 8, 8)
    obj_b = torch.rand(4, 8, 8)
    lam = torch.tensor([0.1, 0.4, 0.7, 0.95])
    weight = (1 - lam).view(4, 1, 1, 1)
    v_a, v_b = lf.visible_shares(obj_a, obj_b, weight, obj_b.sum((1, 2)))
    torch.testing.assert_close(lf.true_share(v_a, v_b), lam)
    assert lf.fidelity_metrics(lam, 1 - lam, v_a, v_b)['mae'] == pytest.approx(0, abs=1e-6)


def test_resizemix_partner_is_whole_at_its_scale():
    from openmix.mixers.base import MixedBatch
    obj = torch.stack([square((16, 16), 0, 8, 0, 8), square((16, 16), 4, 12, 4, 12)])
    batch = MixedBatch(torch.zeros(2, 3, 16, 16), torch.tensor([1, 0]), torch.ones(2), 'resizemix')
    mixed = lf.Mixed(batch, lf.box_weight(torch.tensor([[0, 8, 8, 16]] * 2), (16, 16)), torch.ones(2),
                     resize_box=(0, 8, 8, 16))
    pasted, total = lf.pasted_partner(mixed, obj)
    assert pasted[0].sum() == 16 and pasted[0, 2:6, 10:14].all()  # partner's 8x8 square at half scale
    _, v_b = lf.visible_shares(obj, pasted, mixed.weight, total)
    assert v_b.tolist() == [1.0, 1.0]


# recorded with the code before render_demo_sample existed: sha256 of the pixels (first 16 hex digits)
DEMO_HASHES = {(0, 'train', 0, 0, 64): '64024e50ccf80663', (0, 'val', 3, 7, 64): 'b25b95e074dea422',
               (0, 'train', 8, 199, 64): '8b1e8922974997ed', (5, 'val', 15, 2, 48): 'c5ad95b294991514',
               (0, 'train', 2, 5, 32): '254f565bc63a9c66'}


@pytest.mark.parametrize('args', list(DEMO_HASHES))
def test_demo_mask_leaves_images_unchanged(args):
    img, info = render_demo_image(*args)
    img2, info2, mask = render_demo_sample(*args)
    assert hashlib.sha256(img.tobytes()).hexdigest()[:16] == DEMO_HASHES[args]
    assert np.array_equal(img, img2) and info == info2
    assert mask.dtype == np.float32 and mask.shape == img.shape[:2] and 0 <= mask.min() and mask.max() <= 1
    assert abs(float(mask.mean()) - info['coverage']) < 1e-5
    ys, xs = np.nonzero(mask > 0.5)
    assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == info['bbox']


TINY_CFG = """
model = dict(
    type='ImageClassifier',
    backbone=dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32, patch_size=8, embed_dim=32,
                  depth=1, num_heads=2),
    head=dict(type='LinearClsHead', num_classes=3),
    label_assigner=dict(type='TransMixLabel'),
)
train_dataloader = dict(dataset=dict(type='DemoShapes', data_root='unused', num_classes=3, image_size=32, seed=0))
"""


def test_end_to_end_on_a_tiny_checkpoint(tmp_path, capsys):
    from mmengine.config import Config

    from openmix.registry import MODELS
    cfg_path = tmp_path / 'tiny.py'
    cfg_path.write_text(TINY_CFG)
    torch.manual_seed(1)
    model = MODELS.build(Config.fromfile(cfg_path).model)
    ckpt = tmp_path / 'epoch_2.pth'
    from mmengine.logging import HistoryBuffer
    hub = dict(log_scalars={'train/loss': HistoryBuffer([2.3], [1])})  # what runner checkpoints carry besides weights
    torch.save(dict(meta=dict(epoch=2), state_dict=model.state_dict(), message_hub=hub), ckpt)  # mmengine layout
    out = tmp_path / 'out'
    assert lf.main([str(ckpt), 'init', '--config', str(cfg_path), '--out', str(out), '--num-images', '8',
                    '--batch-size', '4']) == 0
    assert torch.is_grad_enabled()  # main() is scoped: called in-process it leaves grad mode as it found it
    report = json.loads((out / 'label_fidelity.json').read_text())
    assert [run['epoch'] for run in report['checkpoints']] == [2, 0]
    run = report['checkpoints'][0]
    for rule in ('AreaLabel', 'TransMixLabel', 'MixToken', 'AutoMix'):
        assert run['pooled'][rule]['n'] > 0
    assert {'Mixup', 'CutMix', 'FMix', 'MixToken'} <= set(run['results'])
    # Mixup's uniform weight: the area label is the visible share exactly
    assert run['results']['Mixup']['AreaLabel']['mae'] < 1e-6
    # the skips are named with a reason (AttentiveMix needs a pretrained CNN file)
    assert any(s['name'] == 'AttentiveMix' and 'checkpoint' in s['reason'] for s in run['skipped'])
    md = (out / 'label_fidelity.md').read_text()
    assert '| CutMix | TransMixLabel' in md and 'ep 2' in md
    # a second run over the same files reuses the per-checkpoint results; --mixers restricts the mixers
    capsys.readouterr()
    assert lf.main([str(ckpt), '--config', str(cfg_path), '--out', str(out), '--num-images', '8',
                    '--batch-size', '4']) == 0
    assert '(cached' in capsys.readouterr().out
    assert json.loads((out / 'label_fidelity.json').read_text())['checkpoints'][0]['results'] == run['results']
    assert lf.main([str(ckpt), '--config', str(cfg_path), '--out', str(out), '--num-images', '8',
                    '--batch-size', '4', '--mixers', 'CutMix']) == 0
    assert set(json.loads((out / 'label_fidelity.json').read_text())['checkpoints'][0]['results']) == {'CutMix'}
    try:
        import matplotlib  # noqa: F401
        assert (out / 'label_fidelity.png').stat().st_size > 1000
    except ImportError:
        assert 'matplotlib is not installed' in capsys.readouterr().out
