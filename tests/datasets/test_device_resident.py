"""Device-resident data: each batched op against the PIL transform it replaces (same parameters), the sampler's
sharding, the loader's epoch semantics, and a CLI resume that is bit-identical to the straight run."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as F
from mmengine.dataset import DefaultSampler
from PIL import Image

from openmix.datasets.device_loader import DeviceResidentLoader, DeviceShardSampler, dataset_to_uint8
from openmix.datasets.device_ops import (DevicePipeline, color_jitter, crop_padded, hflip, resized_crop,
                                         rrc_boxes)


def _images(n=6, h=20, w=24, seed=0):
    """Random pixels (worst case for interpolation) and smooth gradients, (n, h, w, 3) uint8."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (n // 2, h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([np.stack([(xx * 9 + c * 40 + k * 17) % 256, (yy * 11 + k * 30) % 256,
                                 (xx * yy + 60 * c) % 256], -1) for k, c in enumerate(range(n - n // 2))])
    return np.concatenate([noise, smooth.astype(np.uint8)])


def _chw(a):
    return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()


def _hwc(t):
    return t.permute(1, 2, 0).numpy()


@pytest.mark.parametrize('mode', ['reflect', 'constant', 'edge', 'symmetric'])
def test_crop_with_padding_equals_pad_then_crop(mode):
    imgs = _images()
    top, left = torch.tensor([0, 8, 3, 5, 1, 7]), torch.tensor([0, 8, 2, 6, 4, 1])
    out = crop_padded(_chw(imgs), top, left, (20, 24), padding=4, padding_mode=mode, fill=7)
    for i, img in enumerate(imgs):
        padded = F.pad(Image.fromarray(img), 4, fill=7, padding_mode=mode)
        t, l = int(top[i]), int(left[i])
        np.testing.assert_array_equal(_hwc(out[i]), np.asarray(padded.crop((l, t, l + 24, t + 20))))


def test_flip_is_pil_mirror():
    imgs = _images()
    flip = torch.tensor([True, False, True, True, False, False])
    out = hflip(_chw(imgs), flip)
    for i, img in enumerate(imgs):
        ref = Image.fromarray(img).transpose(Image.FLIP_LEFT_RIGHT) if flip[i] else Image.fromarray(img)
        np.testing.assert_array_equal(_hwc(out[i]), np.asarray(ref))


@pytest.mark.parametrize('interpolation', ['bicubic', 'bilinear'])
@pytest.mark.parametrize('out_size', [(32, 28), (9, 10)])  # enlarging, and shrinking (Pillow's widened filter)
def test_resized_crop_matches_pil_within_one_grey_level(interpolation, out_size):
    # tolerance: Pillow sums in 22-bit fixed point, we in float32, so an exact half may round the other way:
    # at most 1 grey level, on under 1 % of the values
    imgs = _images()
    boxes = torch.tensor([[0, 0, 20, 24], [2, 3, 10, 12], [5, 1, 15, 20], [0, 0, 7, 5], [3, 3, 17, 21], [1, 2, 19, 9]])
    out = resized_crop(_chw(imgs), boxes, out_size, interpolation)
    mode = F.InterpolationMode.BICUBIC if interpolation == 'bicubic' else F.InterpolationMode.BILINEAR
    diff = np.concatenate([
        (_hwc(out[i]).astype(int) - np.asarray(F.resized_crop(Image.fromarray(img), *boxes[i].tolist(),
                                                              list(out_size), mode))).ravel()
        for i, img in enumerate(imgs)])
    assert np.abs(diff).max() <= 1 and (diff != 0).mean() < 0.01


@pytest.mark.parametrize('interpolation', ['bicubic', 'bilinear'])
def test_resized_crop_follows_the_installed_pillows_pass_order(interpolation):
    """Random crops enlarged or shrunk on either axis: within 1 grey level of PIL on every value. Pillow >= 13 runs
    the vertical pass first when the height shrinks by more than twice the width's shrink; up to 12, horizontal
    first. The other order differs on a fifth of those crops' values."""
    import PIL
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (90, 80, 3), dtype=np.uint8)
    n = 60
    h, w = rng.integers(6, 90, n), rng.integers(6, 80, n)
    boxes = torch.from_numpy(np.stack([rng.integers(0, 91 - h), rng.integers(0, 81 - w), h, w], 1))
    size = (int(rng.integers(20, 40)), 30)
    x = _chw(np.stack([img] * n))
    mode = F.InterpolationMode.BICUBIC if interpolation == 'bicubic' else F.InterpolationMode.BILINEAR
    ref = np.stack([np.asarray(F.resized_crop(Image.fromarray(img), *b.tolist(), list(size), mode)) for b in boxes])
    got = np.stack([_hwc(o) for o in resized_crop(x, boxes, size, interpolation)]).astype(int)
    # float32 vs Pillow's fixed point at exact halves: bilinear weights hit them far more often than bicubic ones
    assert np.abs(got - ref).max() <= 1 and (got != ref).mean() < (1e-3 if interpolation == 'bicubic' else 0.02)
    installed = 'pillow13' if int(PIL.__version__.split('.')[0]) >= 13 else 'horizontal'
    other = {'pillow13': 'horizontal', 'horizontal': 'pillow13'}[installed]
    shrink_h, shrink_w = boxes[:, 2] - size[0], boxes[:, 3] - size[1]
    v_first = ((shrink_h > 0) & (shrink_h > 2 * shrink_w)).numpy()
    assert 5 < v_first.sum() < n - 5  # both orders occur among the crops
    swapped = np.stack([_hwc(o) for o in resized_crop(x, boxes, size, interpolation, other)]).astype(int)
    assert np.array_equal(swapped[~v_first], got[~v_first])
    assert (swapped[v_first] != ref[v_first]).mean() > 0.1
    with pytest.raises(ValueError, match="pillow_order must be one of"):
        resized_crop(x, boxes, size, interpolation, 'vertical')


def test_rrc_boxes_follow_torchvision_rule():
    g = torch.Generator().manual_seed(0)
    boxes = rrc_boxes(4000, 32, 40, (0.08, 1.0), (3 / 4, 4 / 3), g, torch.device('cpu')).numpy()
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 32).all() and (left + w <= 40).all()
    area, ratio = h * w / (32 * 40), w / h
    assert area.min() >= 0.08 * 0.8 and ratio.min() > 3 / 4 * 0.8 and ratio.max() < 4 / 3 * 1.25
    # torchvision draws the area uniformly: the mean fraction is ~0.54 (rounding and rejection move it slightly)
    assert 0.45 < area.mean() < 0.6
    assert abs(np.log(ratio).mean()) < 0.05  # log-uniform ratio, symmetric range
    # top/left uniform over the valid positions: mean offset ~ half the slack
    assert abs((top / np.maximum(32 - h, 1)).mean() - 0.5) < 0.05
    # no try fits (ratio far outside a square): torchvision's fallback, the ratio-clamped centre crop
    fb = rrc_boxes(3, 32, 32, (0.9, 1.0), (3.0, 4.0), g, torch.device('cpu')).numpy()
    np.testing.assert_array_equal(fb, [[(32 - 11) // 2, 0, 11, 32]] * 3)  # h = round(32 / 3)


def test_color_jitter_matches_pil_adjust_ops_in_order():
    imgs = _images()
    factors = torch.tensor([[1.3, 0.7, 1.2], [0.6, 1.4, 0.8], [1.0, 1.0, 1.0], [0.9, 1.1, 0.0], [1.4, 0.6, 1.4],
                            [0.8, 1.3, 0.6]])
    order = torch.tensor([[0, 1, 2], [2, 1, 0], [1, 0, 2], [0, 2, 1], [1, 2, 0], [2, 0, 1]])
    out = color_jitter(_chw(imgs), factors, order)
    fns = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation]
    for i, img in enumerate(imgs):
        ref = Image.fromarray(img)
        for k in order[i].tolist():
            ref = fns[k](ref, float(factors[i, k]))
        diff = np.abs(_hwc(out[i]).astype(int) - np.asarray(ref))
        assert diff.max() <= 1 and diff.mean() < 0.01, i


def test_pipeline_translates_and_refuses_by_name():
    pipe = DevicePipeline([dict(type='RandomResizedCrop', size=16, interpolation='bicubic'),
                           dict(type='RandomHorizontalFlip', prob=0.5), dict(type='ColorJitter'),
                           dict(type='PackInputs')])
    x = _chw(_images())
    a, b = pipe(x, torch.Generator().manual_seed(1)), pipe(x, torch.Generator().manual_seed(1))
    assert a.dtype == torch.uint8 and a.shape == (6, 3, 16, 16) and torch.equal(a, b)
    assert not torch.equal(a, pipe(x, torch.Generator().manual_seed(2)))
    with pytest.raises(ValueError, match='CenterCrop has no batched device version'):
        DevicePipeline([dict(type='CenterCrop', size=8), dict(type='PackInputs')])
    with pytest.raises(ValueError, match="supported: 'tweights'"):  # op sets with ops that have no device version
        DevicePipeline([dict(type='RandAugment', config_str='rand-m9-t3a'), dict(type='PackInputs')])
    random_interp = DevicePipeline([dict(type='RandAugment', interpolation='random', img_size=16)])
    assert random_interp.ops[0].aug.interpolation == 'random'  # timm's default when no interpolation is set
    with pytest.raises(ValueError, match='ColorJitter: hue'):  # hue is supported (tests/datasets/test_device_hue.py)
        DevicePipeline([dict(type='ColorJitter', hue=0.6)])
    with pytest.raises(ValueError, match='meta_keys'):
        DevicePipeline([dict(type='PackInputs', meta_keys=('crop_box',))])


def test_pipeline_randaugment_is_the_cpu_transform_with_draws_from_the_batch_seed():
    from openmix.datasets.device_ops import DeviceRandAugment
    from openmix.datasets.transforms import RandAugment
    args = dict(config_str='rand-m9-mstd0.5-inc1', img_mean=(124, 116, 104), interpolation='bicubic', img_size=24)
    pipe = DevicePipeline([dict(type='RandomHorizontalFlip', prob=0.0), dict(type='RandAugment', **args),
                           dict(type='PackInputs')])
    op = pipe.ops[1].aug
    cpu = RandAugment(**args).t  # timm's RandAugment as the CPU pipeline builds it: the same hyper-parameters
    first = cpu.ops[0]
    assert (op.magnitude, op.magnitude_std, op.num_layers, op.prob) == (first.magnitude, first.magnitude_std,
                                                                         cpu.num_layers, first.prob)
    assert [o.name for o in cpu.ops] == list(op.names)
    assert op.translate_const == first.hparams['translate_const'] == 10  # int(0.45 * 24)
    assert op.fill == first.kwargs['fillcolor'] and first.kwargs['resample'] == Image.BICUBIC
    assert op.interpolation == 'bicubic'
    x = _chw(_images(8, 20, 24))
    out = pipe(x, torch.Generator().manual_seed(11))
    # the draws: a CPU generator seeded from SeedSequence([batch seed, position in the pipeline])
    words = np.random.SeedSequence([11, 1]).generate_state(2, np.uint32)
    ref_g = torch.Generator().manual_seed(int(words[0]) << 31 | int(words[1]) >> 1)
    ref = DeviceRandAugment(interpolation='bicubic', translate_const=10, seed=0)(x, generator=ref_g)
    assert torch.equal(out, ref)
    changed = (out != x).flatten(1).any(1).float().mean()
    assert changed > 0.5  # 2 ops at p = 0.5 each: 3/4 of the images are changed on average
    g = torch.Generator().manual_seed(11)
    torch.rand(100, generator=g)  # how far the batch generator advanced does not move RandAugment's draws
    assert torch.equal(pipe(x, g), out)


@pytest.mark.parametrize('n', [30, 31])
def test_sampler_shards_one_permutation_like_default_sampler(n):
    world = 3
    ranks = [DeviceShardSampler(n, shuffle=True, seed=5, rank=r, world_size=world) for r in range(world)]
    for epoch in (0, 1):
        for s in ranks:
            s.set_epoch(epoch)
        shards = [s.indices().tolist() for s in ranks]
        for r, shard in enumerate(shards):
            ref = DefaultSampler(list(range(n)), shuffle=True, seed=5)
            ref.rank, ref.world_size = r, world
            ref.num_samples = -(-n // world)
            ref.total_size = ref.num_samples * world
            ref.set_epoch(epoch)
            assert shard == list(ref)
        flat = sum(shards, [])
        assert sorted(set(flat)) == list(range(n))  # every image this epoch
        assert len(flat) == -(-n // world) * world  # once each, plus DefaultSampler's wrap-around padding
    assert shards[0] != DeviceShardSampler(n, seed=5, rank=0, world_size=world).indices().tolist()  # epoch matters


class _Arrays:
    def __init__(self, n=37):
        self.data = _images(n, 12, 12, seed=3)
        self.labels = list(range(n))

    def __len__(self):
        return len(self.labels)

    def get_gt_labels(self):
        return self.labels


@pytest.mark.parametrize('drop_last', [True, False])
def test_loader_epoch_semantics_and_start_inside_an_epoch(drop_last):
    pipeline = [dict(type='RandomCrop', size=12, padding=2, padding_mode='reflect'),
                dict(type='RandomHorizontalFlip'), dict(type='RandAugment', img_size=12), dict(type='PackInputs')]
    loader = DeviceResidentLoader(_Arrays(), batch_size=8, pipeline=pipeline, device='cpu', seed=3,
                                  drop_last=drop_last, rank=0, world_size=1)
    assert len(loader) == (4 if drop_last else 5)
    loader.sampler.set_epoch(1)
    batches = list(loader)
    assert len(batches) == len(loader)
    labels = torch.cat([b['data_samples']['gt_label'] for b in batches]).tolist()
    assert labels == loader.sampler.indices().tolist()[:len(labels)]  # the labels of the images drawn
    assert all(b['inputs'].dtype == torch.uint8 and b['inputs'].shape[1:] == (3, 12, 12) for b in batches)
    for start in (1, 3):  # a run resumed at batch `start` sees exactly the rest of the epoch
        rest = list(loader.iter_from(start))
        for x, y in zip(rest, batches[start:], strict=True):
            assert torch.equal(x['inputs'], y['inputs']) and torch.equal(x['data_samples']['gt_label'],
                                                                         y['data_samples']['gt_label'])
    loader.sampler.set_epoch(2)
    assert not torch.equal(next(iter(loader))['inputs'], batches[0]['inputs'])


def test_cifar_pickles_and_class_folders_load_as_one_array(tmp_path):
    from openmix.datasets import CIFAR10, ImageFolder
    folder = tmp_path / 'cifar-10-batches-py'
    folder.mkdir()
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (10, 3072), dtype=np.uint8)
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        with open(folder / name, 'wb') as f:
            pickle.dump({'data': data, 'labels': list(range(10))}, f)
    with open(folder / 'batches.meta', 'wb') as f:
        pickle.dump({'label_names': [f'c{i}' for i in range(10)]}, f)
    images, labels = dataset_to_uint8(CIFAR10(str(tmp_path)))
    np.testing.assert_array_equal(images[:10], data.reshape(10, 3, 32, 32).transpose(0, 2, 3, 1))
    for c in range(2):
        for i in range(2):
            (tmp_path / 'f' / str(c)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(_images(2, 8, 8, seed=c * 2 + i)[0]).save(tmp_path / 'f' / str(c) / f'{i}.png')
    ds = ImageFolder(str(tmp_path / 'f'))
    images, labels = dataset_to_uint8(ds, num_threads=2)
    assert labels.tolist() == [0, 0, 1, 1]
    np.testing.assert_array_equal(images[3], np.asarray(Image.open(ds.samples[3][0])))
    Image.fromarray(_images(2, 9, 8)[0]).save(tmp_path / 'f' / '1' / '2.png')
    with pytest.raises(ValueError, match='2.png is 8x9'):
        dataset_to_uint8(ImageFolder(str(tmp_path / 'f')))


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    return tmp_path_factory.mktemp('data') / 'demo_tiny'


def test_cli_resume_is_bit_identical_on_the_device_path(tmp_path, demo_root):
    from tests.integration.conftest import EMA_HOOK, ROOT, run_cli, tiny_demo_config
    from tests.integration.test_resume import STOP_HOOK, assert_same, final_state
    (tmp_path / 'stop_hook.py').write_text(STOP_HOOK)
    base = tiny_demo_config(tmp_path, demo_root, custom_imports=dict(imports=['stop_hook']))
    cfg = tmp_path / 'tiny_device.py'  # the one key on the demo recipe: RandomResizedCrop bicubic, flip, RandAugment
    cfg.write_text(f"_base_ = [{str(base)!r}]\ntrain_dataloader = dict(device_resident=True)\n")
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    env = dict(PYTHONPATH=f'{ROOT}:{tmp_path}')
    out = run_cli([str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(straight), '--deterministic'], tmp_path,
                  **env)
    recipe = "DevicePipeline(['RandomResizedCrop', 'RandomHorizontalFlip', 'RandAugment'])"
    assert recipe in out.stdout + out.stderr  # the whole recipe on the device
    with pytest.raises(AssertionError, match=r'command failed \(3\)'):
        run_cli([str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(resumed), '--deterministic',
                 '--cfg-options', f"custom_hooks=[{EMA_HOOK!r}, dict(type='StopAfterEpoch', epoch=1)]"], tmp_path,
                **env)
    run_cli([str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(resumed), '--deterministic', '--resume'],
            tmp_path, **env)
    a, b = final_state(straight), final_state(resumed)
    for key in ('state_dict', 'ema_state_dict', 'optimizer', 'param_schedulers', 'device_loader'):
        assert_same(a[key], b[key], key)
    assert a['device_loader']['epoch'] == 1


def test_gpu_report_options_run_the_deit_recipe_on_the_device(tmp_path):
    from argparse import Namespace

    from mmengine.config import Config

    from openmix.apis import load_config
    from openmix.datasets.device_loader import GPU_REPORT_OPTIONS
    from tests.integration.conftest import ROOT
    sizes = dict(img=16, batch=4, e2e_window=2)
    cfg = load_config(Namespace(config=str(ROOT / 'configs/deit_s_baseline.py'), work_dir=str(tmp_path),
                                cfg_options=GPU_REPORT_OPTIONS(sizes)))
    loader_cfg = cfg.train_dataloader
    assert loader_cfg.device_resident and loader_cfg.sampler == dict(type='DefaultSampler', shuffle=True)
    # the recipe's pipeline (configs/_base_/datasets/imagenet_deit.py) at the report's image size
    recipe = Config.fromfile(str(ROOT / 'configs/_base_/datasets/imagenet_deit.py')).train_pipeline
    def sizeless(t):
        return {k: v for k, v in t.items() if k not in ('size', 'img_size')}
    assert [sizeless(t) for t in loader_cfg.dataset.pipeline] == [sizeless(t) for t in recipe]
    assert loader_cfg.dataset.pipeline[0].size == loader_cfg.dataset.pipeline[2].img_size == 16
    loader = DeviceResidentLoader(dict(loader_cfg.dataset), batch_size=4, device='cpu', seed=0, rank=0, world_size=1)
    assert loader.pipeline.names == ['RandomResizedCrop', 'RandomHorizontalFlip', 'RandAugment']
    assert len(loader) == 6  # one epoch of 3 * e2e_window batches, as the report's other rows
    batch = next(iter(loader))
    assert batch['inputs'].dtype == torch.uint8 and batch['inputs'].shape == (4, 3, 16, 16)
    order = loader.sampler.indices()[:4]
    assert torch.equal(batch['data_samples']['gt_label'], order % 1000)  # SyntheticImages' labels, i % 1000
    from openmix.datasets import SyntheticImages
    with pytest.raises(ValueError, match='device-resident'):  # the DataLoader path would silently not augment
        SyntheticImages(num_samples=2, img_size=8, pipeline=[dict(type='RandomHorizontalFlip')])
