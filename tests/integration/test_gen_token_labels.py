"""tools/gen_token_labels.py: packed and official outputs, values equal a direct teacher pass, resume skips done."""
import numpy as np
import torch

from openmix.token_labeling import PackedLabelMaps, load_official

from .conftest import tiny_demo_config

VIT = ['--teacher', 'vit_tiny_patch16_224', '--img-size', '32', '--topk', '3', '--batch-size', '16', '--workers', '0',
       '--teacher-kwargs', 'img_size=32', 'patch_size=8', 'embed_dim=32', 'depth=1', 'num_heads=2', 'num_classes=11']


def test_packed_labels_match_the_teacher_and_resume(tmp_path, demo_root, capsys):
    from tools.gen_token_labels import dense_logits, main
    cfg = tiny_demo_config(tmp_path, demo_root)
    torch.manual_seed(0)
    teacher_path = tmp_path / 'teacher.pth'
    import timm
    teacher = timm.create_model('vit_tiny_patch16_224', img_size=32, patch_size=8, embed_dim=32, depth=1,
                                num_heads=2, num_classes=11).eval()
    torch.save(teacher.state_dict(), teacher_path)
    out = tmp_path / 'labels'
    res = main([str(cfg), *VIT, '--checkpoint', str(teacher_path), '--out', str(out)])
    assert res['images'] == res['labelled'] == 88 and res['bytes_per_image'] > 3 * 16 * 6
    store = PackedLabelMaps(out, 'train')
    assert store.values.shape == (88, 3, 4, 4) and store.pending() == []
    # the first image, labelled by hand: resize/centre-crop is the identity at 32 px, teacher normalisation
    from openmix.registry import DATASETS
    from mmengine.config import Config
    ds = DATASETS.build(dict(Config.fromfile(str(cfg)).train_dataloader.dataset, pipeline=[dict(type='PackInputs')]))
    x = ds[0]['inputs'][None].float()
    mean = torch.tensor(teacher.pretrained_cfg['mean']).view(1, 3, 1, 1) * 255
    std = torch.tensor(teacher.pretrained_cfg['std']).view(1, 3, 1, 1) * 255
    with torch.no_grad():
        v, i = dense_logits(teacher, (x - mean) / std).topk(3, dim=1)
    key = store.keys[0]
    got_v, got_i = store[key]
    torch.testing.assert_close(got_v, v[0].half().float())
    assert torch.equal(got_i, i[0])
    # resume: forget three rows, rerun: only those are labelled again
    writable = PackedLabelMaps(out, 'train', mode='w')
    writable.done[[0, 5, 9]] = 0
    writable.done.flush()
    capsys.readouterr()
    res = main([str(cfg), *VIT, '--checkpoint', str(teacher_path), '--out', str(out)])
    assert res['labelled'] == 3 and '85 already done, 3 to label' in capsys.readouterr().out
    np.testing.assert_array_equal(PackedLabelMaps(out, 'train').values[0], store.values[0])


def test_official_layout_files(tmp_path, demo_root):
    from tools.gen_token_labels import main
    cfg = tiny_demo_config(tmp_path, demo_root)
    out = tmp_path / 'official'
    res = main([str(cfg), *VIT, '--out', str(out), '--format', 'official'])
    files = sorted(out.rglob('*.pt'))
    assert len(files) == res['images'] == 88
    v, i = load_official(files[0])
    assert v.shape == i.shape == (3, 4, 4) and i.max() < 11
    assert (v[0] >= v[1]).all()  # top-k sorted
    assert main([str(cfg), *VIT, '--out', str(out), '--format', 'official'])['labelled'] == 0


def test_token_labeling_trains_end_to_end_on_generated_labels(tmp_path, demo_root):
    """Teacher (an openmix ImageClassifier config) -> packed labels -> TokenLabelClassifier training and eval."""
    from tools.gen_token_labels import main as gen
    from .conftest import ROOT, run_cli
    teacher_cfg = tiny_demo_config(tmp_path, demo_root)
    labels = tmp_path / 'tl'
    gen([str(teacher_cfg), '--teacher', str(teacher_cfg), '--img-size', '32', '--topk', '3', '--workers', '0',
         '--out', str(labels)])
    assert PackedLabelMaps(labels, 'train').values.shape == (88, 3, 4, 4)
    cfg = tmp_path / 'tl.py'
    cfg.write_text(f"""
_base_ = [{str(ROOT / 'configs' / 'demo_token_labeling.py')!r}]
demo_args = dict(num_classes=11, train_per_class=8, val_per_class=3, image_size=32, seed=0, class_colour_prob=0.0)
model = dict(backbone=dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2), head=dict(num_classes=11))
train_dataloader = dict(batch_size=16, num_workers=0, dataset=dict(data_root={str(demo_root)!r}, **demo_args,
    pipeline=[dict(type='LoadTokenLabel', label_root={str(labels)!r}, fmt='packed'),
              dict(type='RandomHorizontalFlip', prob=0.5),
              dict(type='RandAugment', config_str='rand-m9-mstd0.5-inc1', img_size=32),
              dict(type='RandomResizedCrop', size=32, scale=(0.35, 1.0)), dict(type='NormaliseCrop'),
              dict(type='PackInputs', meta_keys=('label_values', 'label_indices', 'crop'))]))
val_dataloader = dict(batch_size=8, num_workers=0, dataset=dict(data_root={str(demo_root)!r}, **demo_args))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=1)]
""")
    work = tmp_path / 'work'
    proc = run_cli([str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(work)], tmp_path)
    assert (work / 'epoch_1.pth').exists() and 'accuracy/top1' in proc.stdout


def test_mean_pooled_vit_dense_logits_average_to_image_logits(capsys):
    # the demo annotator's design (configs/demo_token_labeling_teacher.py): per-token LayerNorm, then mean pooling,
    # so the classifier commutes with the pooling and every token's logits are a dense version of the image logits
    import timm
    from tools.gen_token_labels import dense_logits
    torch.manual_seed(0)
    teacher = timm.create_model('vit_tiny_patch16_224', img_size=32, patch_size=8, embed_dim=32, depth=1,
                                num_heads=2, num_classes=7, class_token=False, global_pool='avg', fc_norm=False).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        dense = dense_logits(teacher, x)
        assert dense.shape == (2, 7, 4, 4)
        torch.testing.assert_close(dense.mean((2, 3)), teacher(x), rtol=1e-5, atol=1e-5)
    assert 'warning' not in capsys.readouterr().err
    # a class-token teacher gets a warning (once)
    cls_teacher = timm.create_model('vit_tiny_patch16_224', img_size=32, patch_size=8, embed_dim=32, depth=1,
                                    num_heads=2, num_classes=7).eval()
    dense_logits.__dict__.pop('warned', None)
    with torch.no_grad():
        dense_logits(cls_teacher, x)
        dense_logits(cls_teacher, x)
    assert capsys.readouterr().err.count('patch tokens were never trained to classify') == 1
