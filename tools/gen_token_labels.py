"""Generate token-label maps: a timm teacher's top-k logits at every location of its last feature map.

    python tools/gen_token_labels.py CONFIG --teacher resnet50 [--checkpoint teacher.pth] --out data/token_labels
        [--format packed|official] [--split train] [--img-size 224] [--topk 5] [--batch-size 64] [--workers 4]
    torchrun --nproc_per_node 8 tools/gen_token_labels.py ... --launcher pytorch

CNN teachers apply their classifier as a 1x1 convolution to the last feature map (NFNet-F6 at 576 px: 18 x 18);
ViT teachers apply their head to each patch token. Images are resized (shorter side) and centre-cropped to
``--img-size`` (crop-pct 1.0, as the official ``generate_label.py``) and normalised with the teacher's statistics.
Maps go to ``<out>/<class>/<stem>.pt`` (official ``[2, k, H, W]`` fp16) or to one packed, memory-mapped file set per
split (openmix; see openmix/token_labeling/label_maps.py). Both resume: finished images are skipped. No weights are
downloaded: pass ``--checkpoint`` for a trained teacher.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Generate token-label maps with a timm teacher')
    p.add_argument('config', help='config whose train (or --split val) dataset is labelled')
    p.add_argument('--teacher', required=True,
                   help="timm model name, or an openmix config ('configs/demo.py') whose trained ImageClassifier "
                        "(--checkpoint, its EMA weights with --ema) is the teacher")
    p.add_argument('--ema', action='store_true', help='with an openmix teacher: use the EMA weights')
    p.add_argument('--checkpoint', help='teacher weights (state dict; read with weights_only=True)')
    p.add_argument('--out', required=True)
    p.add_argument('--format', choices=['packed', 'official'], default='packed')
    p.add_argument('--split', default='train', help="'train' or 'val': which dataloader's dataset")
    p.add_argument('--img-size', type=int, default=224)
    p.add_argument('--topk', type=int, default=5)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--teacher-kwargs', nargs='*', default=[], metavar='KEY=VALUE', help='timm kwargs (literals)')
    p.add_argument('--device', default=None)
    p.add_argument('--launcher', choices=['none', 'pytorch'], default='none')
    return p.parse_args(argv)


def dense_logits(model, x):
    """``(B, K, H, W)`` logits at every location of the teacher's last layer."""
    import torch
    feats = model.forward_features(x)
    if feats.ndim == 3:  # ViT-style tokens (B, P + N, C): the head on each patch token
        if getattr(model, 'global_pool', None) == 'token' and not getattr(dense_logits, 'warned', False):
            dense_logits.warned = True
            print('warning: the teacher classifies its class token; its patch tokens were never trained to '
                  'classify, so their logits make weak token labels. Prefer a CNN or a ViT with '
                  "global_pool='avg' (see configs/demo_token_labeling_teacher.py).", file=sys.stderr)
        tokens = feats[:, getattr(model, 'num_prefix_tokens', 1):]
        if hasattr(model, 'fc_norm') and not isinstance(model.fc_norm, torch.nn.Identity):
            tokens = model.fc_norm(tokens)
        logits = model.get_classifier()(tokens)
        side = int(round(tokens.shape[1] ** 0.5))
        return logits.transpose(1, 2).reshape(logits.shape[0], -1, side, tokens.shape[1] // side)
    if getattr(model, 'output_fmt', 'NCHW') == 'NHWC':
        feats = feats.permute(0, 3, 1, 2)
    fc = model.get_classifier()
    if not isinstance(fc, torch.nn.Linear):
        raise ValueError(f'{type(model).__name__}: the classifier is {type(fc).__name__}, not a Linear layer that '
                         'can be applied as a 1x1 convolution')
    return torch.einsum('bchw,kc->bkhw', feats, fc.weight) + fc.bias.view(1, -1, 1, 1)


def build_teacher(args):
    """A timm model with its classifier: by timm name (+ kwargs, + a state dict), or from an openmix config."""
    import timm
    import torch
    from openmix.apis.config import parse_cfg_options
    if args.teacher.endswith('.py'):
        from mmengine.config import Config
        from openmix.registry import MODELS
        from openmix.utils.weights import load_model_weights
        clf = MODELS.build(Config.fromfile(args.teacher).model)
        if args.checkpoint:
            load_model_weights(clf, args.checkpoint, ema=args.ema)
        model, fc = clf.backbone.model, clf.head.fc
        model.reset_classifier(fc.out_features)
        model.get_classifier().load_state_dict(fc.state_dict())  # the openmix head becomes the timm classifier
        pre = clf.data_preprocessor  # normalise as the teacher was trained (0-255 statistics -> 0-1)
        model.pretrained_cfg = dict(model.pretrained_cfg, mean=tuple((pre.mean.flatten() / 255).tolist()),
                                    std=tuple((pre.std.flatten() / 255).tolist()))
        return model
    model = timm.create_model(args.teacher, pretrained=False, **parse_cfg_options(args.teacher_kwargs))
    if args.checkpoint:
        state = torch.load(args.checkpoint, map_location='cpu', weights_only=True)
        model.load_state_dict(state.get('state_dict', state.get('model', state)) if isinstance(state, dict) else state)
    return model


def main(argv=None) -> dict:
    import torch
    import torch.distributed as dist
    from mmengine.config import Config
    from mmengine.dataset import default_collate
    from torch.utils.data import DataLoader, Subset

    from openmix.registry import DATASETS
    from openmix.token_labeling import PackedLabelMaps, image_key, save_official
    from openmix.utils.setup_env import register_all_modules

    args = parse_args(argv)
    register_all_modules()
    rank, world = 0, 1
    if args.launcher == 'pytorch':
        dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo')
        rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(args.device or (f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}' if torch.cuda.is_available()
                                          else 'cpu'))
    cfg = Config.fromfile(args.config)
    ds_cfg = dict(cfg[f'{args.split}_dataloader' if args.split in ('train', 'val', 'test') else 'train_dataloader'].dataset)
    ds_cfg['pipeline'] = [dict(type='Resize', size=args.img_size, interpolation='bicubic'),
                          dict(type='CenterCrop', size=args.img_size), dict(type='PackInputs')]
    dataset = DATASETS.build(ds_cfg)
    keys = [image_key(p) for p, _ in dataset.samples]

    model = build_teacher(args)
    model.eval().to(device)
    mean = torch.tensor(model.pretrained_cfg.get('mean', (0.485, 0.456, 0.406)), device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(model.pretrained_cfg.get('std', (0.229, 0.224, 0.225)), device=device).view(1, 3, 1, 1) * 255
    num_classes = model.num_classes
    with torch.no_grad():
        probe = dense_logits(model, torch.zeros(1, 3, args.img_size, args.img_size, device=device))
    hw = tuple(probe.shape[-2:])

    if args.format == 'packed':
        if rank == 0:
            store = PackedLabelMaps.create(args.out, args.split, keys, args.topk, hw, num_classes,
                                           teacher=args.teacher, img_size=args.img_size)
        if world > 1:
            dist.barrier()
        store = PackedLabelMaps(args.out, args.split, mode='w')
        pending = store.pending()
    else:
        pending = [i for i, k in enumerate(keys) if not (Path(args.out) / f'{k}.pt').is_file()]
    done_before = len(keys) - len(pending)
    mine = pending[rank::world]
    loader = DataLoader(Subset(dataset, mine), batch_size=args.batch_size, num_workers=args.workers,
                        collate_fn=default_collate)
    if rank == 0:
        print(f'{len(keys)} images, {done_before} already done, {len(pending)} to label on {world} process(es); '
              f'teacher {args.teacher} at {args.img_size} px -> top-{args.topk} of {num_classes} on a {hw[0]}x{hw[1]} '
              f'grid ({args.format} format in {args.out})', flush=True)
    start, seen, pos = time.perf_counter(), 0, 0
    for bi, batch in enumerate(loader):
        x = (batch['inputs'].to(device).float() - mean) / std
        with torch.no_grad():
            values, indices = dense_logits(model, x).float().topk(args.topk, dim=1)
        rows = mine[pos:pos + len(x)]
        pos += len(x)
        if args.format == 'packed':
            store.write(rows, values, indices)
        else:
            for j, r in enumerate(rows):
                save_official(Path(args.out) / f'{keys[r]}.pt', values[j], indices[j])
        seen += len(x)
        if rank == 0 and (bi % 20 == 0 or pos == len(mine)):
            rate = seen / max(time.perf_counter() - start, 1e-9)
            eta = (len(mine) - pos) / max(rate, 1e-9)
            print(f'[{pos}/{len(mine)}] {rate:.1f} img/s, eta {eta:.0f} s', flush=True)
    if world > 1:
        dist.barrier()
    elapsed = time.perf_counter() - start
    if args.format == 'packed':
        names = [f'{args.split}.{s}' for s in ('values.f16', 'indices.i32', 'done.u8', 'index.json')]
        total = sum((Path(args.out) / n).stat().st_size for n in names)
    else:
        total = sum(p.stat().st_size for p in Path(args.out).rglob('*.pt'))
    result = dict(images=len(keys), labelled=seen * world, seconds=round(elapsed, 2),
                  images_per_s=round(seen * world / max(elapsed, 1e-9), 1), bytes_per_image=round(total / len(keys), 1))
    if rank == 0:
        print(f'done: {result}', flush=True)
    if world > 1:
        dist.destroy_process_group()
    return result


if __name__ == '__main__':
    main()
