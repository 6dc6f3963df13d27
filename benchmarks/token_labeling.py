"""Cost of token labeling: the DeiT-S training step with token labels + MixToken vs the plain DeiT recipe step, and
the train data loader with label maps vs without (same images, same transforms).

    python benchmarks/token_labeling.py                        # both, synthetic ImageNet-like folder at 224 px
    python benchmarks/token_labeling.py --no-step --loader-config configs/demo_token_labeling.py   # demo data + maps

Step: ``configs/deit_s_baseline.py``'s model (Mixup/CutMix switch, smoothing) vs
``configs/token_labeling/deit_s_token_labeling.py``'s (aux token head, MixToken, dense targets by ``roi_align``) on the
same synthetic batch; label maps are random top-k (k=5, 14 x 14, as ``tools/gen_token_labels.py`` makes them at
224 px). The two models alternate rounds and each keeps its best round (CPU timings drift). Targets: ratio <= 1.05.

Loader: a token-labeling pipeline (LoadTokenLabel -> flip -> RandAugment -> RandomResizedCrop -> NormaliseCrop ->
PackInputs) vs the same pipeline without the two map transforms, alternating rounds, images/s of the whole
DataLoader. By default on a temporary class-folder dataset of JPEGs of ImageNet's typical sizes with packed maps (or
official ``.pt`` maps with ``--fmt official``); ``--loader-config`` times a config's own train loader instead.
Target: with / without >= 0.9.

Prints one JSON row per measurement with device info.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import describe_env, loader_images_per_s, timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAP_TRANSFORMS = ('LoadTokenLabel', 'NormaliseCrop')


def random_label_maps(batch: int, k: int, hw: tuple[int, int], num_classes: int, gen: torch.Generator):
    """Top-k teacher logits (descending, fp16-representable) and distinct class indices per location."""
    values = torch.randn(batch, k, *hw, generator=gen).mul(3).sort(1, descending=True).values.half().float()
    scores = torch.rand(batch, num_classes, *hw, generator=gen)
    return values, scores.topk(k, 1).indices


def step_rows(args, device) -> list[dict]:
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from openmix.registry import MODELS
    gen = torch.Generator().manual_seed(0)
    b = args.step_batch
    values, indices = random_label_maps(b, 5, (14, 14), 1000, gen)
    top_left = torch.rand(b, 2, generator=gen) * 0.5
    crop = torch.cat([top_left, 0.3 + torch.rand(b, 2, generator=gen) * (1 - 0.3 - top_left)], 1)
    samples = dict(gt_label=torch.randint(0, 1000, (b,), generator=gen))
    inputs = torch.randint(0, 256, (b, 3, 224, 224), dtype=torch.uint8, generator=gen)
    runs = {}
    for name, path in (('plain', 'configs/deit_s_baseline.py'),
                       ('token_labeling', 'configs/token_labeling/deit_s_token_labeling.py')):
        cfg = Config.fromfile(ROOT / path)
        torch.manual_seed(0)
        model = MODELS.build(cfg.model).to(device)
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
        data_samples = dict(samples)
        if name == 'token_labeling':
            data_samples.update(label_values=values, label_indices=indices, crop=crop)
        runs[name] = (model, optim, dict(inputs=inputs, data_samples=data_samples), path)
    times = {name: float('inf') for name in runs}
    for _ in range(args.step_rounds):
        for name, (model, optim, data, _) in runs.items():
            t = timed(lambda: model.train_step(data, optim), args.step_iters, 1, device)
            times[name] = min(times[name], t)
    rows = [dict(bench='train_step', method=name, config=runs[name][3], model='deit_small_patch16_224',
                 batch=b, ms=round(times[name] * 1e3, 1), rounds=args.step_rounds) for name in runs]
    rows.append(dict(bench='train_step_ratio', token_labeling_over_plain=round(times['token_labeling'] /
                                                                               times['plain'], 4), target=1.05))
    return rows


def synthetic_imagenet(root: Path, n: int, classes: int, fmt: str, seed: int = 0) -> Path:
    """``root/images/<class>/<i>.JPEG`` of ImageNet's typical sizes with smooth random content, and their random
    top-5 14 x 14 label maps (packed ``root/maps`` or official ``root/maps/<class>/<i>.pt``)."""
    from PIL import Image
    from openmix.token_labeling.label_maps import PackedLabelMaps, image_key, save_official
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    paths = []
    for i in range(n):
        h, w = int(rng.integers(300, 500)), int(rng.integers(350, 500))
        small = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.BILINEAR)
        path = root / 'images' / f'n{i % classes:08d}' / f'{i}.JPEG'
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, quality=90)
        paths.append(path)
    keys = [image_key(str(p)) for p in paths]
    values, indices = random_label_maps(n, 5, (14, 14), 1000, gen)
    if fmt == 'packed':
        maps = PackedLabelMaps.create(root / 'maps', 'train', keys, 5, (14, 14), 1000, teacher='random')
        maps.write(list(range(n)), values, indices)
    else:
        for key, v, ix in zip(keys, values, indices):
            save_official(root / 'maps' / f'{key}.pt', v, ix)
    return root


def synthetic_loader_cfg(root: Path, args) -> dict:
    pipeline = [
        dict(type='LoadTokenLabel', label_root=str(root / 'maps'), fmt=args.fmt, split='train'),
        dict(type='RandomHorizontalFlip', prob=0.5),
        dict(type='RandAugment', config_str='rand-m9-mstd0.5-inc1', img_mean=(124, 116, 104),
             interpolation='bicubic'),
        dict(type='RandomResizedCrop', size=224, interpolation='bicubic'),
        dict(type='NormaliseCrop'),
        dict(type='PackInputs', meta_keys=('label_values', 'label_indices', 'crop')),
    ]
    return dict(batch_size=args.loader_batch, num_workers=args.workers, persistent_workers=False,
                sampler=dict(type='DefaultSampler', shuffle=True), collate_fn=dict(type='default_collate'),
                dataset=dict(type='ImageFolder', data_root=str(root / 'images'), pipeline=pipeline))


def without_maps(loader_cfg: dict) -> dict:
    """The same loader with the map transforms removed and no map keys packed."""
    cfg = copy.deepcopy(loader_cfg)
    pipeline = [dict(t) for t in cfg['dataset']['pipeline'] if t['type'] not in MAP_TRANSFORMS]
    for t in pipeline:
        if t['type'] == 'PackInputs':
            t.pop('meta_keys', None)
    cfg['dataset']['pipeline'] = pipeline
    return cfg


def loader_rows(args) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        if args.loader_config:
            from mmengine.config import Config
            cfg = Config.fromfile(args.loader_config)
            with_cfg = cfg.train_dataloader.to_dict()
            with_cfg.update(num_workers=args.workers, persistent_workers=False)
            with_cfg.pop('worker_init_fn', None)
            source = args.loader_config
        else:
            root = synthetic_imagenet(Path(tmp), args.images, 10, args.fmt)
            with_cfg = synthetic_loader_cfg(root, args)
            source = f'synthetic 224 px ImageFolder ({args.images} JPEGs, {args.fmt} maps)'
        if not any(t['type'] == 'LoadTokenLabel' for t in with_cfg['dataset']['pipeline']):
            raise SystemExit(f'{source}: the train pipeline has no LoadTokenLabel; nothing to compare')
        cfgs = dict(with_maps=with_cfg, without_maps=without_maps(with_cfg))
        best = {name: 0.0 for name in cfgs}
        for _ in range(args.loader_rounds):
            for name, c in cfgs.items():
                best[name] = max(best[name], loader_images_per_s(c, args.loader_batches)[1])
    rows = [dict(bench='loader', method=name, source=source, workers=args.workers,
                 images_per_s=round(best[name], 1), rounds=args.loader_rounds) for name in cfgs]
    rows.append(dict(bench='loader_ratio', with_over_without=round(best['with_maps'] / best['without_maps'], 4),
                     target=0.9))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--step-batch', type=int, default=32)
    parser.add_argument('--step-iters', type=int, default=3)
    parser.add_argument('--step-rounds', type=int, default=3)
    parser.add_argument('--no-step', action='store_true')
    parser.add_argument('--no-loader', action='store_true')
    parser.add_argument('--loader-config', default=None, help="time this config's train loader (needs its maps)")
    parser.add_argument('--fmt', choices=['packed', 'official'], default='packed')
    parser.add_argument('--images', type=int, default=320, help='synthetic dataset size')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--loader-batch', type=int, default=32)
    parser.add_argument('--loader-batches', type=int, default=8)
    parser.add_argument('--loader-rounds', type=int, default=3)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args()
    from openmix.utils.setup_env import register_all_modules
    register_all_modules()
    device = torch.device(args.device)
    env = describe_env(device, 'fp32')
    rows = ([] if args.no_loader else loader_rows(args)) + ([] if args.no_step else step_rows(args, device))
    for row in rows:
        print(json.dumps({**row, **env}), flush=True)


if __name__ == '__main__':
    main()
