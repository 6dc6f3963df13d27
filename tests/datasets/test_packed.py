"""Packed store: tools/pack_dataset.py writes it (resumable, atomic), PackedImageNet and the batch decoder read it."""
from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.io import ImageReadMode, decode_jpeg

from openmix.datasets import ImageNet, PackedImageNet, load_rgb, pack_images, packed_decode_collate
from openmix.datasets.packed import read_index, resize_short_side, store_paths

from .conftest import write_jpeg

ROOT = Path(__file__).resolve().parents[2]
DEIT_PIPELINE = [dict(type='RandomResizedCrop', size=16, interpolation='bicubic'),
                 dict(type='RandomHorizontalFlip', prob=0.5),
                 dict(type='RandAugment', config_str='rand-m9-mstd0.5-inc1', img_mean=(124, 116, 104), img_size=16),
                 dict(type='PackInputs', meta_keys=('crop_box', 'flip'))]


def pack(src, out, **kw):
    return pack_images(src, out, log=None, **kw)


def store_state(out: Path, split: str = 'train') -> tuple[bytes, dict]:
    data, index = store_paths(out, split)
    idx = read_index(index)
    idx['meta'].pop('source')
    return data.read_bytes(), idx


def assert_same_store(a: Path, b: Path) -> None:
    (data_a, idx_a), (data_b, idx_b) = store_state(a), store_state(b)
    assert data_a == data_b
    assert idx_a['meta'] == idx_b['meta'] and idx_a['meta']['complete']
    for k in ('offsets', 'lengths', 'shapes', 'labels', 'keys'):
        np.testing.assert_array_equal(idx_a[k], idx_b[k])


def test_jpeg_store_matches_folder_dataset(imagenet_folders, tmp_path):
    out = tmp_path / 'packed'
    pack(imagenet_folders, out, split='train', short_side=24, quality=95)
    folder = ImageNet(str(imagenet_folders), split='train')
    ds = PackedImageNet(str(out), split='train')
    assert ds.classes == folder.classes and ds.get_gt_labels() == folder.get_gt_labels()
    assert [k for k, _ in ds.samples] == [os.path.relpath(p, imagenet_folders / 'train') for p, _ in folder.samples]
    data, _ = store_paths(out, 'train')
    assert data.stat().st_size == ds.meta['valid_bytes'] == int(ds.lengths.sum())
    tv = PackedImageNet(str(out), split='train', decode='torchvision')
    for i in range(len(ds)):
        blob = ds.raw_bytes(i).tobytes()
        assert blob[:2] == b'\xff\xd8'  # JPEG SOI
        pixels = ds.load_array(i)
        np.testing.assert_array_equal(pixels, np.asarray(Image.open(io.BytesIO(blob)).convert('RGB')))
        assert pixels.shape == (24, 32, 3) == tuple(ds.shapes[i])  # 40x30 sources: short side 24, long int(24*40/30)
        diff = np.abs(tv.load_array(i).astype(int) - pixels.astype(int))
        assert diff.mean() <= 1.0 and diff.max() <= 8  # libjpeg-turbo through torchvision vs PIL: decoder tolerance
        # the re-encoded image is the resized source within JPEG q95 error (noise images: the hardest case)
        ref = np.asarray(resize_short_side(load_rgb(folder.samples[i][0]), 24)).astype(int)
        assert np.abs(pixels.astype(int) - ref).mean() < 12


def test_raw_store_is_exact_and_resizes_like_torchvision(imagenet_folders, tmp_path):
    pack(imagenet_folders, tmp_path / 'raw', split='val', short_side=20, fmt='raw')
    ds = PackedImageNet(str(tmp_path / 'raw'), split='val')
    folder = ImageNet(str(imagenet_folders), split='val')
    assert ds.classes == folder.classes == ['n01440764', 'n01443537', 'n01484850']  # train's classes for val
    assert ds.get_gt_labels() == folder.get_gt_labels() == [0, 1]
    for i, (path, _) in enumerate(folder.samples):
        src = load_rgb(path)
        expected = np.asarray(TF.resize(src, 20, TF.InterpolationMode.BICUBIC))  # torchvision Resize(20) on PIL
        np.testing.assert_array_equal(ds.load_array(i), expected)
        assert ds.load_array(i).shape == (20, 26, 3)


def test_existing_pipeline_runs_unchanged(imagenet_folders, tmp_path):
    """Raw at the source size holds the source pixels: the DeiT pipeline gives the folder dataset's outputs."""
    pack(imagenet_folders, tmp_path / 'same', short_side=None, fmt='raw')
    ds = PackedImageNet(str(tmp_path / 'same'), pipeline=DEIT_PIPELINE)
    folder = ImageNet(str(imagenet_folders), split='train', pipeline=DEIT_PIPELINE)
    def seeded(dataset, i):
        random.seed(i)
        np.random.seed(i)
        torch.manual_seed(i)
        return dataset[i]

    for i in range(len(ds)):
        a, b = seeded(ds, i), seeded(folder, i)
        assert a['inputs'].dtype == torch.uint8 and a['inputs'].shape == (3, 16, 16)
        assert torch.equal(a['inputs'], b['inputs'])
        assert a['data_samples']['gt_label'] == b['data_samples']['gt_label']
        assert torch.equal(a['data_samples']['crop_box'], b['data_samples']['crop_box'])


def test_limit_then_resume_equals_straight_pack(imagenet_folders, tmp_path):
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    pack(imagenet_folders, straight, short_side=24, chunk=4)
    pack(imagenet_folders, resumed, short_side=24, chunk=2, limit=3)
    with pytest.raises(ValueError, match='3 of 6 rows'):
        PackedImageNet(str(resumed))
    assert len(PackedImageNet(str(resumed), allow_incomplete=True)) == 3
    data, _ = store_paths(resumed, 'train')
    with open(data, 'ab') as f:  # a chunk appended by a killed run whose index never landed
        f.write(b'\x00garbage' * 100)
    pack(imagenet_folders, resumed, short_side=24, chunk=2)
    assert_same_store(straight, resumed)
    assert not [p for p in resumed.iterdir() if 'tmp' in p.name]
    with pytest.raises(FileExistsError, match='other settings'):
        pack(imagenet_folders, resumed, short_side=20)


def test_worker_pool_gives_the_same_store(imagenet_folders, tmp_path):
    pack(imagenet_folders, tmp_path / 'a', short_side=24)
    pack(imagenet_folders, tmp_path / 'b', short_side=24, workers=2, chunk=4)
    assert_same_store(tmp_path / 'a', tmp_path / 'b')


def test_killed_pack_resumes_to_the_same_store(tmp_path):
    src = tmp_path / 'tree'
    for c in range(2):
        for i in range(6):
            write_jpeg(src / 'train' / f'class{c}' / f'{i}.JPEG', seed=10 * c + i, size=(36, 28))
    pack(src, tmp_path / 'straight', short_side=20)
    out = tmp_path / 'killed'
    cmd = [sys.executable, str(ROOT / 'tools/pack_dataset.py'), str(src), '--out', str(out), '--short-side', '20',
           '--chunk', '1', '--commit-seconds', '0']
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    proc = subprocess.Popen(cmd, env={**env, 'OPENMIX_PACK_CHUNK_SLEEP': '0.2'}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    index = store_paths(out, 'train')[1]
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if index.is_file() and len(read_index(index)['keys']) >= 3:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done = len(read_index(index)['keys'])
    assert 3 <= done < 12 and not read_index(index)['meta']['complete']
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f'resuming at row {done}/12' in rerun.stdout and 'eta' in rerun.stdout
    assert_same_store(tmp_path / 'straight', out)


def test_device_decode_collate_on_cpu(imagenet_folders, tmp_path):
    pack(imagenet_folders, tmp_path / 'p', short_side=24)
    ds = PackedImageNet(str(tmp_path / 'p'), decode='device')
    with pytest.raises(ValueError, match='pipeline'):
        PackedImageNet(str(tmp_path / 'p'), decode='device', pipeline=DEIT_PIPELINE)
    batch = [ds[i] for i in range(len(ds))]
    assert batch[0]['inputs'].dtype == torch.uint8 and batch[0]['inputs'].ndim == 1
    single = [decode_jpeg(item['inputs'], mode=ImageReadMode.RGB) for item in batch]
    out = packed_decode_collate(batch)  # no CUDA here: decoded on the CPU by the same call
    assert out['inputs'].device.type == ('cuda' if torch.cuda.is_available() else 'cpu')
    assert torch.equal(out['inputs'].cpu(), torch.stack(single))
    assert out['data_samples']['gt_label'].tolist() == ds.get_gt_labels()
    pil = torch.from_numpy(np.stack([ds.load_array(i) for i in range(len(ds))])).permute(0, 3, 1, 2)
    assert (out['inputs'].cpu().int() - pil.int()).abs().float().mean() <= 1.0

    random.seed(3)
    cropped = packed_decode_collate(batch, size=16, scale=(0.3, 1.0), device='cpu')
    assert cropped['inputs'].shape == (len(ds), 3, 16, 16) and cropped['inputs'].dtype == torch.uint8
    boxes = cropped['data_samples']['crop_box']
    random.seed(3)
    from timm.data.transforms import RandomResizedCropAndInterpolation
    for img, box, got in zip(single, boxes, cropped['inputs']):
        assert tuple(box.tolist()) == RandomResizedCropAndInterpolation.get_params(img, (0.3, 1.0), (3 / 4, 4 / 3))
        expected = TF.resized_crop(img, *box.tolist(), [16, 16], TF.InterpolationMode.BICUBIC, antialias=True)
        assert torch.equal(got, expected)

    pack(imagenet_folders, tmp_path / 'r', short_side=24, fmt='raw')  # raw stores: items already decoded
    raw = PackedImageNet(str(tmp_path / 'r'), decode='device')
    out_raw = packed_decode_collate([raw[i] for i in range(len(raw))], device='cpu')
    assert torch.equal(out_raw['inputs'], torch.from_numpy(np.stack([raw.load_array(i) for i in range(len(raw))]))
                       .permute(0, 3, 1, 2))


def test_device_decode_collate_runs_the_rest_of_the_pipeline_batched(imagenet_folders, tmp_path):
    from openmix.datasets.device_ops import DevicePipeline
    pack(imagenet_folders, tmp_path / 'p', short_side=24)
    batch = [item for item in PackedImageNet(str(tmp_path / 'p'), decode='device')]
    random.seed(5)
    plain = packed_decode_collate(batch, size=16, device='cpu')['inputs']
    random.seed(5)
    flipped = packed_decode_collate(batch, size=16, device='cpu',
                                    pipeline=[dict(type='RandomHorizontalFlip', prob=1.0), dict(type='PackInputs')])
    assert torch.equal(flipped['inputs'], plain.flip(-1))  # same boxes (same random state), every image flipped

    ra = [dict(type='RandAugment', config_str='rand-m9-mstd0.5-inc1', img_mean=(124, 116, 104), img_size=16)]
    random.seed(7)
    out = packed_decode_collate(batch, size=16, device='cpu', pipeline=ra)['inputs']
    random.seed(7)
    crops = packed_decode_collate(batch, size=16, device='cpu')['inputs']
    seed = random.getrandbits(63)  # the collate draws its generator's seed right after the crop boxes
    expected = DevicePipeline(ra)(crops, torch.Generator().manual_seed(seed))
    assert torch.equal(out, expected) and not torch.equal(out, crops)
    random.seed(7)
    assert torch.equal(packed_decode_collate(batch, size=16, device='cpu', pipeline=ra)['inputs'], out)  # replayable
    with pytest.raises(ValueError, match='only the transforms after the crop'):
        packed_decode_collate(batch, size=16, device='cpu', pipeline=[dict(type='RandomResizedCrop', size=16)])
    with pytest.raises(ValueError, match='no batched device version'):
        packed_decode_collate(batch, size=16, device='cpu', pipeline=[dict(type='GaussianBlur')])


def test_one_epoch_training_on_packed_demo_data(tmp_path):
    from openmix.datasets import generate_demo_dataset

    from ..integration.conftest import run_cli, tiny_demo_config
    demo = generate_demo_dataset(tmp_path / 'demo', num_classes=11, train_per_class=8, val_per_class=3,
                                 image_size=32, seed=0)
    packed = tmp_path / 'demo_packed'
    (tmp_path / 'src').mkdir()
    source_cfg = tiny_demo_config(tmp_path / 'src', demo)  # val is packed from the config, train from the root
    for split, source in (('train', demo), ('val', source_cfg)):
        run_cli([str(ROOT / 'tools/pack_dataset.py'), str(source), '--out', str(packed), '--split', split,
                 '--short-side', '32'], cwd=tmp_path)
    for split, n in (('train', 88), ('val', 33)):
        ds, folder = PackedImageNet(str(packed), split), ImageNet(str(demo), split)
        assert ds.classes == folder.classes and ds.get_gt_labels() == folder.get_gt_labels() and len(ds) == n
        assert [k for k, _ in ds.samples] == [os.path.relpath(p, demo / split) for p, _ in folder.samples]
    pipeline = [dict(type='RandomResizedCrop', size=32, scale=(0.35, 1.0), interpolation='bicubic'),
                dict(type='RandomHorizontalFlip', prob=0.5),
                dict(type='RandAugment', config_str='rand-m9-mstd0.5-inc1', img_mean=(124, 116, 104), img_size=32),
                dict(type='PackInputs')]
    cfg = tiny_demo_config(
        tmp_path, demo,
        train_dataloader=dict(batch_size=16, num_workers=0, dataset=dict(
            _delete_=True, type='PackedImageNet', data_root=str(packed), split='train', pipeline=pipeline)),
        val_dataloader=dict(batch_size=4, num_workers=0, dataset=dict(
            _delete_=True, type='PackedImageNet', data_root=str(packed), split='val',
            pipeline=[dict(type='PackInputs')])),
        train_cfg=dict(max_epochs=1, val_interval=1))
    work = tmp_path / 'work'
    proc = run_cli([str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(work)], cwd=tmp_path)
    assert Path((work / 'last_checkpoint').read_text().strip()).name == 'epoch_1.pth'
    from mmengine.config import Config
    ran = Config.fromfile(str(work / cfg.name))  # the config the runner dumped
    assert ran.train_dataloader.dataset.type == ran.val_dataloader.dataset.type == 'PackedImageNet'
    assert 'accuracy/top1' in proc.stdout + proc.stderr
