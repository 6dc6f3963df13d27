"""Transforms: recorded geometry, determinism under a seed, the Pillow 13 posterize fix, packing, samplers."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from timm.data import auto_augment as timm_aa
from torch.utils.data import DataLoader

from openmix.datasets import ImageNet, RepeatAugSampler, seed_worker
from openmix.datasets.transforms import PackInputs, RandAugment, RandomResizedCrop, safe_posterize
from openmix.registry import TRANSFORMS

DEIT_TRAIN = [
    dict(type='RandomResizedCrop', size=24, interpolation='bicubic'),
    dict(type='RandomHorizontalFlip', prob=0.5),
    dict(type='RandAugment', config_str='rand-m9-mstd0.5-inc1', img_size=24),
    dict(type='PackInputs', meta_keys=('crop_box', 'flip')),
]


def _image(seed=0, size=(48, 36)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_random_resized_crop_records_the_box_it_cut():
    t = TRANSFORMS.build(dict(type='RandomResizedCrop', size=16, scale=(0.2, 0.5), interpolation='bilinear'))
    img = _image()
    random.seed(3)
    out = t(dict(img=img))
    top, left, h, w = out['crop_box']
    assert out['ori_shape'] == (36, 48) and out['img'].size == (16, 16)
    assert 0.2 * 48 * 36 * 0.9 <= h * w <= 0.5 * 48 * 36 * 1.1
    assert 0 <= top <= 36 - h and 0 <= left <= 48 - w
    expected = img.crop((left, top, left + w, top + h)).resize((16, 16), Image.BILINEAR)
    np.testing.assert_allclose(np.asarray(out['img'], np.int16), np.asarray(expected, np.int16), atol=1)


def test_flip_center_crop_resize_and_random_crop():
    img = _image()
    flipped = TRANSFORMS.build(dict(type='RandomHorizontalFlip', prob=1.0))(dict(img=img))
    assert flipped['flip'] is True
    np.testing.assert_array_equal(np.asarray(flipped['img']), np.asarray(img)[:, ::-1])
    assert TRANSFORMS.build(dict(type='RandomHorizontalFlip', prob=0.0))(dict(img=img))['flip'] is False
    resized = TRANSFORMS.build(dict(type='Resize', size=18, interpolation='bicubic'))(dict(img=img))['img']
    assert resized.size == (24, 18)  # shorter side 18, aspect kept
    cc = TRANSFORMS.build(dict(type='CenterCrop', size=20))(dict(img=img))
    assert cc['crop_box'] == (8, 14, 20, 20)
    np.testing.assert_array_equal(np.asarray(cc['img']), np.asarray(img)[8:28, 14:34])
    small = _image(size=(32, 32))
    rc = TRANSFORMS.build(dict(type='RandomCrop', size=32, padding=4, padding_mode='reflect'))
    random.seed(0)
    out = np.asarray(rc(dict(img=small))['img'])
    padded = np.asarray(TF.pad(small, 4, padding_mode='reflect'))
    hits = [(t, l) for t in range(9) for l in range(9) if np.array_equal(padded[t:t + 32, l:l + 32], out)]
    assert hits, 'the crop must be a 32x32 window of the reflect-padded image'


def test_bad_transform_arguments_name_the_problem():
    with pytest.raises(ValueError, match='interpolation must be one of'):
        RandomResizedCrop(8, interpolation='cubic')
    with pytest.raises(ValueError, match=r'scale\[0\] <= scale\[1\]'):
        RandomResizedCrop(8, scale=(0.9, 0.1))
    with pytest.raises(ValueError, match="cannot parse config_str 'rand-q9'"):
        RandAugment('rand-q9')
    with pytest.raises(KeyError, match='RandomResizeCrop.*RandomResizedCrop'):
        TRANSFORMS.build(dict(type='RandomResizeCrop', size=8))


def test_posterize_zero_bits_gives_black_as_older_pillow():
    img = _image()
    black = safe_posterize(img, 0)
    assert black.mode == 'RGB' and black.size == img.size and not np.asarray(black).any()
    # the other bit counts keep the usual behaviour: the top `bits` bits survive
    np.testing.assert_array_equal(np.asarray(safe_posterize(img, 2)), np.asarray(img) & 0b11000000)
    assert safe_posterize(img, 8) is img
    with pytest.raises(ValueError):  # what Pillow 13 does to timm's own op (the bug fixed here)
        timm_aa.posterize(img, 0)


def test_randaugment_at_max_magnitude_posterize_does_not_crash():
    ra = RandAugment('rand-m10-n1-mstd0-inc1', img_size=48)
    ops = [op for op in ra.t.ops if op.name == 'PosterizeIncreasing']
    assert len(ops) == 1 and ops[0].aug_fn is safe_posterize
    ops[0].prob, ops[0].magnitude = 1.0, 10  # level 10 -> 4 - int(10 / 10 * 4) = 0 bits kept
    ra.t.ops = ops
    out = ra(dict(img=_image()))['img']
    assert not np.asarray(out).any()


def test_pipeline_is_deterministic_under_a_seed(imagenet_folders):
    ds = ImageNet(str(imagenet_folders), split='train', pipeline=DEIT_TRAIN)

    def draw(seed):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        return [ds[i] for i in range(len(ds))]

    a, b, c = draw(1), draw(1), draw(2)
    for x, y in zip(a, b):
        assert torch.equal(x['inputs'], y['inputs']) and torch.equal(x['data_samples']['crop_box'],
                                                                     y['data_samples']['crop_box'])
    assert any(not torch.equal(x['inputs'], z['inputs']) for x, z in zip(a, c))
    assert a[0]['inputs'].dtype == torch.uint8 and a[0]['inputs'].shape == (3, 24, 24)


def test_loader_workers_are_seeded_from_the_main_rng(imagenet_folders):
    """With seed_worker, the same main-process seed replays the augmentations; each epoch draws new ones."""
    ds = ImageNet(str(imagenet_folders), split='train', pipeline=DEIT_TRAIN)

    def epochs(seed, n=2):
        torch.manual_seed(seed)
        loader = DataLoader(ds, batch_size=3, num_workers=2, worker_init_fn=seed_worker)
        return [torch.cat([b['inputs'] for b in loader]) for _ in range(n)]

    first, again = epochs(0), epochs(0)
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    assert not torch.equal(first[0], first[1])


def test_seed_worker_mixes_in_the_rank(monkeypatch):
    def draws(rank):
        monkeypatch.setenv('RANK', str(rank))
        torch.manual_seed(1234)
        seed_worker(0)
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    assert draws(0) == draws(0)
    assert all(a != b for a, b in zip(draws(0), draws(1)))


def test_pack_inputs_contract():
    img = _image(size=(5, 4))
    out = PackInputs(meta_keys=('flip', 'absent'))(dict(img=img, gt_label=np.int64(3), flip=True))
    assert out['inputs'].dtype == torch.uint8 and out['inputs'].shape == (3, 4, 5)
    assert torch.equal(out['inputs'], torch.from_numpy(np.array(img)).permute(2, 0, 1))
    assert out['data_samples'] == dict(gt_label=3, flip=True)


@pytest.mark.parametrize('n,world,repeats', [(10, 1, 3), (10, 2, 3), (7, 3, 2), (600, 4, 3)])
def test_repeat_aug_sampler(n, world, repeats):
    samplers = [RepeatAugSampler(range(n), num_repeats=repeats, seed=5, rank=r, world_size=world)
                for r in range(world)]
    for s in samplers:
        s.set_epoch(2)
    per_rank = [list(s) for s in samplers]
    expected_len = (n // 256 * 256) // world if n >= 256 else -(-n // world)
    assert all(len(p) == len(s) == expected_len for p, s in zip(per_rank, samplers))
    # rank r takes positions r, r + world, ... of one permutation with each index repeated `repeats` times
    order = torch.randperm(n, generator=torch.Generator().manual_seed(5 + 2)).repeat_interleave(repeats).tolist()
    order += order[:world * -(-n * repeats // world) - len(order)]
    for r, p in enumerate(per_rank):
        assert p == order[r::world][:expected_len]
    if world > 1 and repeats >= world:  # the copies of an image go to different ranks
        assert set(per_rank[0][:2]) & set(per_rank[1][:2])
    samplers[0].set_epoch(3)
    assert list(samplers[0]) != per_rank[0]
    with pytest.raises(ValueError, match='rank 2 is not in'):
        RepeatAugSampler(range(4), rank=2, world_size=2, seed=0)
