"""ImageNet (folders, annotation files), ImageFolder and CIFAR pickles read from files in the real formats."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from PIL import Image

from openmix.datasets import CIFAR10, CIFAR100, CorruptImageError, ImageFolder, ImageNet
from openmix.registry import DATASETS

from .conftest import WNIDS, write_cifar, write_jpeg


def test_imagenet_class_folders_labels_follow_sorted_train_folders(imagenet_folders):
    train = ImageNet(str(imagenet_folders), split='train')
    assert train.classes == WNIDS and len(train) == 6
    for path, label in train.samples:
        assert os.path.basename(os.path.dirname(path)) == WNIDS[label]
    item = train[3]
    assert isinstance(item['img'], Image.Image) and item['img'].mode == 'RGB' and item['img'].size == (40, 30)
    assert item['gt_label'] == 1 and item['img_path'].endswith('n01443537_1.JPEG')
    # val lacks the last class folder: labels still come from train's class list, not val's own folders
    val = ImageNet(str(imagenet_folders), split='val')
    assert val.classes == WNIDS and [label for _, label in val.samples] == [0, 1]


def test_imagenet_ann_file_layout(imagenet_annfile):
    val = ImageNet(str(imagenet_annfile), split='val')
    assert len(val) == 3
    assert [label for _, label in val.samples] == [2, 1, 0]
    assert val.samples[0][0] == str(imagenet_annfile / 'val' / 'ILSVRC2012_val_00000001.JPEG')
    assert val.classes == WNIDS  # from train/ class folders
    assert val[0]['img'].size == (40, 30)
    # explicit ann_file and a classes file
    (imagenet_annfile / 'meta' / 'classes.txt').write_text('a\nb\nc\n')
    train = DATASETS.build(dict(type='ImageNet', data_root=str(imagenet_annfile), split='train',
                                ann_file='meta/train.txt'))
    assert train.classes == ['a', 'b', 'c'] and [label for _, label in train.samples] == [0, 1, 2]


def test_bad_ann_file_line_names_file_and_line(imagenet_annfile):
    ann = imagenet_annfile / 'meta' / 'val.txt'
    ann.write_text('ILSVRC2012_val_00000001.JPEG 2\nILSVRC2012_val_00000002.JPEG two\n')
    with pytest.raises(ValueError, match=r'val\.txt:2: expected'):
        ImageNet(str(imagenet_annfile), split='val')


def test_missing_imagenet_names_paths_and_docs(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        ImageNet(str(tmp_path / 'nowhere'), split='train')
    msg = str(e.value)
    assert str(tmp_path / 'nowhere' / 'train') in msg and str(tmp_path / 'nowhere' / 'meta' / 'train.txt') in msg
    assert 'docs/datasets.md' in msg and 'data_root' in msg
    with pytest.raises(FileNotFoundError, match='annotation file .*missing.txt does not exist'):
        ImageNet(str(tmp_path), split='train', ann_file='missing.txt')


def test_empty_class_folders_are_an_error(tmp_path):
    (tmp_path / 'train' / 'n0').mkdir(parents=True)
    (tmp_path / 'train' / 'n0' / 'notes.txt').write_text('x')
    with pytest.raises(FileNotFoundError, match='hold no images'):
        ImageNet(str(tmp_path), split='train')


def test_corrupt_image_names_the_file_or_is_skipped_and_counted(imagenet_folders):
    bad = imagenet_folders / 'train' / WNIDS[0] / f'{WNIDS[0]}_1.JPEG'
    bad.write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    pipeline = [dict(type='PackInputs')]
    ds = ImageNet(str(imagenet_folders), split='train', pipeline=pipeline)
    assert ds[0]['inputs'].shape == (3, 30, 40)
    with pytest.raises(CorruptImageError, match=str(bad)):
        ds[1]
    skipping = ImageNet(str(imagenet_folders), split='train', pipeline=pipeline, skip_corrupt=True)
    item = skipping[1]
    assert item['data_samples'] == dict(gt_label=1, num_skipped=1)  # the next image (class 1) stands in
    assert skipping[0]['data_samples']['num_skipped'] == 0


def test_truncated_jpeg_is_reported(imagenet_folders):
    path = imagenet_folders / 'train' / WNIDS[2] / f'{WNIDS[2]}_0.JPEG'
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CorruptImageError, match=f'cannot read image {path}'):
        ImageNet(str(imagenet_folders), split='train')[4]


def test_image_folder(imagenet_folders, tmp_path):
    ds = ImageFolder(str(imagenet_folders / 'train'))
    assert ds.classes == WNIDS and len(ds) == 6
    custom = ImageFolder(str(imagenet_folders / 'train'), classes=list(reversed(WNIDS)))
    assert [label for _, label in custom.samples] == [2, 2, 1, 1, 0, 0]
    with pytest.raises(ValueError, match=r"class folders \['n01484850'\] are not in the configured classes"):
        ImageFolder(str(imagenet_folders / 'train'), classes=WNIDS[:2])
    with pytest.raises(FileNotFoundError, match='does not exist'):
        ImageFolder(str(tmp_path / 'absent'))


def test_cifar10_reads_official_pickles(tmp_path):
    train_rows = write_cifar(tmp_path / 'cifar10')
    ds = CIFAR10(str(tmp_path / 'cifar10'), split='train')
    assert len(ds) == 20 and ds.classes[0] == 'airplane' and ds.num_classes == 10
    item = ds[5]  # batch 2, row 1
    expected = train_rows[5].reshape(3, 32, 32).transpose(1, 2, 0)
    np.testing.assert_array_equal(np.asarray(item['img']), expected)
    assert item['gt_label'] == (2 + 1) % 10 and item['img_path'] == 'data_batch_2#1'
    packed = CIFAR10(str(tmp_path / 'cifar10'), split='test', pipeline=[dict(type='PackInputs')])[3]
    assert packed['inputs'].shape == (3, 32, 32) and packed['data_samples']['gt_label'] == 3
    # pointing at the extracted folder itself works too
    assert len(CIFAR10(str(tmp_path / 'cifar10' / 'cifar-10-batches-py'), split='test')) == 4


def test_cifar100_fine_labels(tmp_path):
    train_rows = write_cifar(tmp_path / 'c100', hundred=True)
    ds = DATASETS.build(dict(type='CIFAR100', data_root=str(tmp_path / 'c100'), split='train'))
    assert len(ds) == 8 and ds.num_classes == 100 and ds.classes[7] == 'fine7'
    assert ds[7]['gt_label'] == 7
    np.testing.assert_array_equal(np.asarray(ds[2]['img']), train_rows[2].reshape(3, 32, 32).transpose(1, 2, 0))


def test_cifar_missing_and_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        CIFAR100(str(tmp_path / 'none'), split='test')
    assert 'test, meta not found in' in str(e.value) and str(tmp_path / 'none' / 'cifar-100-python') in str(e.value)
    assert 'cifar-100-python.tar.gz' in str(e.value) and 'docs/datasets.md' in str(e.value)
    with pytest.raises(ValueError, match="split must be one of"):
        CIFAR10(str(tmp_path), split='val')
    write_cifar(tmp_path / 'evil')
    with open(tmp_path / 'evil' / 'cifar-10-batches-py' / 'test_batch', 'wb') as f:
        pickle.dump({'data': os.system}, f)  # a global that is not a numpy array
    with pytest.raises(ValueError, match='refusing to load'):
        CIFAR10(str(tmp_path / 'evil'), split='test')


def test_grayscale_and_png_are_converted_to_rgb(tmp_path):
    path = tmp_path / 'd' / 'cls' / 'a.png'
    path.parent.mkdir(parents=True)
    Image.new('L', (8, 6), 77).save(path)
    write_jpeg(tmp_path / 'd' / 'cls' / 'b.jpg', seed=0)
    ds = ImageFolder(str(tmp_path / 'd'), pipeline=[dict(type='PackInputs')])
    assert len(ds) == 2
    x = ds[0]['inputs']
    assert x.shape == (3, 6, 8) and int(x.min()) == int(x.max()) == 77
