"""Tiny-ImageNet-200 read from files in the release archive's layout."""
from __future__ import annotations

import pytest

from openmix.datasets import TinyImageNet

from .conftest import write_jpeg

WNIDS = ['n02124075', 'n01443537', 'n09193705']  # wnids.txt is not sorted in the release


@pytest.fixture
def tiny_root(tmp_path):
    root = tmp_path / 'tiny-imagenet-200'
    root.mkdir()
    (root / 'wnids.txt').write_text('\n'.join(WNIDS) + '\n')
    for w in WNIDS:
        (root / 'train' / w / 'images').mkdir(parents=True)
        (root / 'train' / w / f'{w}_boxes.txt').write_text('')
        for i in range(2):
            write_jpeg(root / 'train' / w / 'images' / f'{w}_{i}.JPEG', 0, size=(64, 64))
    (root / 'val' / 'images').mkdir(parents=True)
    rows = [('val_0.JPEG', 'n09193705'), ('val_1.JPEG', 'n01443537'), ('val_2.JPEG', 'n02124075')]
    for name, _ in rows:
        write_jpeg(root / 'val' / 'images' / name, 0, size=(64, 64))
    (root / 'val' / 'val_annotations.txt').write_text(
        ''.join(f'{name}\t{w}\t0\t3\t60\t62\n' for name, w in rows))
    return root


def test_train_and_val_labels_follow_sorted_wnids(tiny_root):
    train = TinyImageNet(str(tiny_root), split='train')
    assert train.classes == sorted(WNIDS) and len(train) == 6
    for path, label in train.samples:
        assert path.split('/')[-3] == sorted(WNIDS)[label]
    assert train[0]['img'].size == (64, 64)
    val = TinyImageNet(str(tiny_root), split='val')
    assert [(p.split('/')[-1], label) for p, label in val.samples] == [('val_0.JPEG', 2), ('val_1.JPEG', 0),
                                                                       ('val_2.JPEG', 1)]
    # the file's own order on request
    val = TinyImageNet(str(tiny_root), split='val', classes='wnids.txt')
    assert [label for _, label in val.samples] == [2, 1, 0]


def test_val_in_class_folders(tiny_root):
    (tiny_root / 'val' / 'val_annotations.txt').unlink()
    for w in WNIDS:
        write_jpeg(tiny_root / 'val' / w / 'images' / 'x.JPEG', 0, size=(64, 64))
    val = TinyImageNet(str(tiny_root), split='val')
    assert sorted(label for _, label in val.samples) == [0, 1, 2]


def test_missing_and_bad_input_name_the_path(tiny_root, tmp_path):
    with pytest.raises(FileNotFoundError, match=r'wnids\.txt does not exist.*tiny-imagenet-200\.zip'):
        TinyImageNet(str(tmp_path / 'nowhere'))
    (tiny_root / 'val' / 'val_annotations.txt').write_text('val_0.JPEG\tn00000000\t0\t0\t1\t1\n')
    with pytest.raises(ValueError, match=r"val_annotations\.txt:1: class 'n00000000'"):
        TinyImageNet(str(tiny_root), split='val')
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        TinyImageNet(str(tiny_root), split='test')
    import shutil
    shutil.rmtree(tiny_root / 'train' / WNIDS[1])
    with pytest.raises(FileNotFoundError, match=f'class folder .*{WNIDS[1]} is missing'):
        TinyImageNet(str(tiny_root), split='train')
