"""Data that does not fit the model or the loader is named before training (issue 11, items 6 and 9).

Real folder trees and CIFAR pickles written by the tests, real datasets and loaders, and one real ``tools/train.py``
process per probe that needs the Runner (the lr scaling and the scheduler's epoch length happen inside it).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.dataset import DefaultSampler
from torch.utils.data import DataLoader

from openmix.apis.data_checks import DataConfigError, check_batch_fits, check_class_count
from openmix.datasets import CIFAR10, EmptyClassFolderError, ImageFolder, ImageNet, TinyImageNet

from ..integration.conftest import ROOT, tiny_demo_config
from .conftest import WNIDS, write_cifar, write_jpeg


def class_tree(root: Path, names: list[str], per_class: int = 2, empty: tuple[str, ...] = ()) -> Path:
    for c, name in enumerate(names):
        for i in range(per_class):
            write_jpeg(root / name / f'{name}_{i}.JPEG', seed=10 * c + i)
    for name in empty:
        (root / name).mkdir(parents=True)
    return root


@pytest.mark.parametrize('empty', ['n00000000', 'n99999999'], ids=['sorted_first', 'sorted_last'])
def test_empty_class_folder_is_named(tmp_path, empty):
    root = class_tree(tmp_path / 'folders', WNIDS, empty=(empty,))
    (root / empty / 'notes.txt').write_text('not an image')
    with pytest.raises(EmptyClassFolderError) as err:
        ImageFolder(str(root))
    msg = str(err.value)
    assert str((root / empty).absolute()) in msg and '1 of the 4 class folders' in msg
    assert 'class count 4 instead of 3' in msg


def test_empty_class_folder_in_imagenet_train_and_val(tmp_path):
    root = tmp_path / 'imagenet'
    class_tree(root / 'train', WNIDS, empty=('n99999999',))
    class_tree(root / 'val', WNIDS[:2], per_class=1)
    for split in ('train', 'val'):  # val takes its class list from train: the empty train folder is named for both
        with pytest.raises(EmptyClassFolderError, match=str(root / 'train' / 'n99999999')):
            ImageNet(str(root), split=split)
    (root / 'train' / 'n99999999').rmdir()
    (root / 'val' / WNIDS[2]).mkdir()
    with pytest.raises(EmptyClassFolderError, match=str(root / 'val' / WNIDS[2])):
        ImageNet(str(root), split='val')


def test_empty_tiny_imagenet_train_class(tmp_path):
    root = tmp_path / 'tiny-imagenet-200'
    root.mkdir()
    (root / 'wnids.txt').write_text('\n'.join(WNIDS) + '\n')
    for w in WNIDS[:2]:
        write_jpeg(root / 'train' / w / 'images' / f'{w}_0.JPEG', 0, size=(64, 64))
    (root / 'train' / WNIDS[2] / 'images').mkdir(parents=True)
    with pytest.raises(EmptyClassFolderError, match=WNIDS[2]):
        TinyImageNet(str(root), split='train')


def test_class_count_against_the_head(tmp_path):
    folders = ImageFolder(str(class_tree(tmp_path / 'f', WNIDS)))
    check_class_count(folders, 3, 'train_dataloader.dataset')
    with pytest.raises(DataConfigError, match=r'train_dataloader.dataset has 3 classes but model.head.num_classes '
                                              r'is 2: set model.head.num_classes=3'):
        check_class_count(folders, 2, 'train_dataloader.dataset')
    write_cifar(tmp_path / 'c10')
    cifar = CIFAR10(str(tmp_path / 'c10'))
    check_class_count(cifar, 10, 'train_dataloader.dataset')
    with pytest.raises(DataConfigError, match='has 10 classes but model.head.num_classes is 100'):
        check_class_count(cifar, 100, 'train_dataloader.dataset')

    class NoClassList:  # a dataset that only has labels: they must be in range of the head
        def get_gt_labels(self):
            return [0, 4, 9, 10]

    with pytest.raises(DataConfigError, match=r'labels \[10\] outside \[0, 10\)'):
        check_class_count(NoClassList(), 10, 'train_dataloader.dataset')


def test_batch_larger_than_the_data(tmp_path):
    dataset = ImageFolder(str(class_tree(tmp_path / 'f', WNIDS)))  # 6 images
    assert check_batch_fits(DataLoader(dataset, batch_size=6), world_size=1) is None
    warning = check_batch_fits(DataLoader(dataset, batch_size=48), 1,
                               auto_scale_lr=dict(enable=True, base_batch_size=6))
    assert warning == ('train_dataloader.batch_size=48 is larger than the training data: 6 images (world size 1), so '
                       'every epoch is one partial step of 6 images, and auto_scale_lr scales the lr by 8 for a total '
                       'batch of 48 (base_batch_size=6) that the data cannot fill. Set train_dataloader.batch_size to '
                       'at most 6.')
    with pytest.raises(DataConfigError, match='drop_last=True no batch is ever full'):
        check_batch_fits(DataLoader(dataset, batch_size=48, drop_last=True), 1)
    # two processes share the data: a batch of 4 does not fit a share of 3
    sampler = DefaultSampler(dataset, shuffle=False)
    sampler.world_size, sampler.num_samples = 2, 3  # what DefaultSampler computes on 2 ranks
    warning = check_batch_fits(DataLoader(dataset, batch_size=4, sampler=sampler), world_size=2)
    assert '6 images over world size 2 = 3 per process' in warning


def train_cli(tmp_path: Path, data_root: Path, *options: str) -> subprocess.CompletedProcess:
    config = tiny_demo_config(tmp_path, data_root, max_epochs=1, train_cfg=dict(max_epochs=1, val_interval=1))
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, str(ROOT / 'tools' / 'train.py'), str(config), '--work-dir',
                           str(tmp_path / 'wd'), '--cfg-options', *options], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture(scope='module')
def tiny_demo_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp('data') / 'demo_tiny'


def test_train_cli_refuses_batch_with_no_step(tmp_path, tiny_demo_root):
    proc = train_cli(tmp_path, tiny_demo_root, 'train_dataloader.batch_size=512', 'train_dataloader.drop_last=True')
    assert proc.returncode != 0
    assert ('train_dataloader.batch_size=512 is larger than the training data: 88 images (world size 1), and with '
            'train_dataloader.drop_last=True no batch is ever full') in proc.stderr
    assert 'epoch_length must be a positive integer' not in proc.stderr


def test_train_cli_refuses_head_of_another_class_count(tmp_path, tiny_demo_root):
    proc = train_cli(tmp_path, tiny_demo_root, 'model.head.num_classes=10')  # the tiny demo has 11 classes
    assert proc.returncode != 0
    assert "split='train') has 11 classes but model.head.num_classes is 10" in proc.stderr
