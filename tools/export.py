"""Export a trained model to timm: ``python tools/export.py CONFIG CHECKPOINT [--ema] --out DIR``.

Writes ``DIR/model.safetensors`` (the stock timm model's state dict: backbone + classifier) and
``DIR/openmix_export.json`` (timm model name and ``create_model`` kwargs, normalisation, input size, metric, config).
Load with timm alone::

    meta = json.load(open('DIR/openmix_export.json'))
    model = timm.create_model(meta['model_name'], pretrained=True, **meta['kwargs'],
                              pretrained_cfg_overlay=dict(meta['pretrained_cfg_overlay'], file='DIR/model.safetensors'))

Only models with a stock timm equivalent export (``openmix.utils.convert.to_timm``); others are refused by name. The
exported model's logits are checked against openmix's on a random batch before anything is written.
"""
import argparse
import json
import os.path as osp
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: tolerance of the export check (float32 logits of the same weights through the same timm code)
TOLERANCE = 1e-4


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export an openmix checkpoint as a timm model (safetensors + JSON)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file (openmix, or a release convert_checkpoint detects)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--ema', action='store_true', help='export the EMA weights stored in the checkpoint')
    parser.add_argument('--metric', type=float, help='top-1 to record (default: the best one in the checkpoint)')
    parser.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE', help='override config keys')
    return parser.parse_args(argv)


def input_size(cfg, timm_model) -> list[int]:
    """``[3, H, W]`` of the evaluation input: the test pipeline's crop, the demo image size, the training crop, or
    timm's own (``patch_embed.img_size``, ``pretrained_cfg['input_size']``)."""
    def size_of(value):
        return [3, value, value] if isinstance(value, int) else [3, *value] if value else None

    for loader in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset') or {}
        for step in reversed(dataset.get('pipeline') or []):
            if step.get('type') in ('CenterCrop', 'RandomResizedCrop', 'RandomCrop') and step.get('size'):
                return size_of(step['size'])
        if dataset.get('image_size'):
            return size_of(dataset['image_size'])
    embed = getattr(timm_model, 'patch_embed', None)
    if embed is not None and getattr(embed, 'img_size', None):
        return size_of(tuple(embed.img_size))
    return list(timm_model.pretrained_cfg.get('input_size', (3, 224, 224)))


def best_metric(checkpoint: dict) -> tuple[str, float] | None:
    """``(name, value)`` of the best validation top-1 in an mmengine checkpoint's message hub, or the ``metric`` of a
    timm ``train.py`` checkpoint (TransMix's releases), if recorded."""
    if isinstance(checkpoint.get('metric'), (int, float)):
        return 'top1', float(checkpoint['metric'])
    hub = checkpoint.get('message_hub') or {}
    info, scalars = hub.get('runtime_info') or {}, hub.get('log_scalars') or {}
    if info.get('best_score') is not None:
        return 'accuracy/top1', float(info['best_score'])
    for name in ('val/accuracy/top1', 'accuracy/top1'):
        buffer = scalars.get(name)
        if buffer is not None and len(buffer.data[0]):
            return name, float(buffer.data[0].max())
    return None


def main(argv=None):
    import numpy as np
    import safetensors.torch
    import timm
    import torch
    from mmengine.config import Config

    from openmix.apis.config import apply_cfg_options, parse_cfg_options
    from openmix.registry import MODELS
    from openmix.utils.checkpoint import AtomicLocalBackend, load_checkpoint_file
    from openmix.utils.convert import timm_kwargs, to_timm
    from openmix.utils.setup_env import register_all_modules
    from openmix.utils.weights import load_model_weights

    args = parse_args(argv)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    apply_cfg_options(cfg, parse_cfg_options(args.cfg_options))
    model = MODELS.build(cfg.model)
    timm_kwargs(model, cfg.model.backbone)  # refuse a model without a timm equivalent before reading weights
    load_model_weights(model, args.checkpoint, ema=args.ema)
    model.eval()
    name, kwargs, state = to_timm(model, cfg.model.backbone)

    exported = timm.create_model(name, pretrained=False, **kwargs).eval()
    exported.load_state_dict(state, strict=True)
    size = input_size(cfg, exported)
    x = torch.randn(2, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (model(x, mode='tensor') - exported(x)).abs().max().item()
    if not diff <= TOLERANCE:
        raise RuntimeError(f'export check failed: timm {name} logits differ from openmix by {diff:.3g} (> '
                           f'{TOLERANCE}); nothing written')

    preprocessor = model.data_preprocessor
    mean = [round(float(v), 4) for v in preprocessor.mean.flatten()]  # float32 buffer -> the configured value
    std = [round(float(v), 4) for v in preprocessor.std.flatten()]
    metric = ('accuracy/top1', args.metric) if args.metric is not None else best_metric(
        load_checkpoint_file(args.checkpoint, map_location='cpu'))
    overlay = dict(num_classes=kwargs['num_classes'], input_size=size, mean=[m / 255 for m in mean],
                   std=[s / 255 for s in std])
    meta = dict(
        format='openmix-timm-export', format_version=1, model_name=name, kwargs=kwargs,
        weights='model.safetensors', pretrained_cfg_overlay=overlay,
        mean_255=mean, std_255=std, input_size=size,
        metric=None if metric is None else dict(name=metric[0], value=metric[1]),
        ema=args.ema, checkpoint=osp.abspath(args.checkpoint), config_file=osp.abspath(args.config),
        config=cfg.pretty_text, export_check=dict(max_abs_logit_diff=diff, input_shape=list(x.shape)),
        timm_version=timm.__version__, torch_version=torch.__version__,
        load=("timm.create_model(model_name, pretrained=True, **kwargs, pretrained_cfg_overlay=dict("
              "pretrained_cfg_overlay, file='<out>/model.safetensors'))"))
    tensors = {k: v.detach().contiguous() for k, v in state.items()}
    backend = AtomicLocalBackend()
    backend.put(safetensors.torch.save(tensors, metadata=dict(format='pt', model_name=name)),
                osp.join(args.out, 'model.safetensors'))
    backend.put_text(json.dumps(meta, indent=2, default=lambda o: np.asarray(o).tolist()) + '\n',
                     osp.join(args.out, 'openmix_export.json'))
    print(f'exported {name} ({len(tensors)} tensors, ema={args.ema}) to {args.out}; max |logit diff| vs openmix '
          f'{diff:.3g}; metric {meta["metric"]}')


if __name__ == '__main__':
    main()
