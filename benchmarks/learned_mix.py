"""Training-step time and peak memory of the network-guided and learned mixers relative to CutMix: AutoMix, SAMix,
PuzzleMix, AttentiveMix, ManifoldMix on ResNet-18 (CIFAR, 32 px) and DeiT-S (224 px).

    python benchmarks/learned_mix.py [--models r18_cifar deit_s] [--methods cutmix automix ...] [--iters 3]

Every (model, method) runs in its own process (peak memory is per process on the CPU: resident set size above the
level after building the model; on CUDA ``max_memory_allocated``), on one synthetic batch, full ``train_step``
(forward, backward, optimizer, AutoMix's EMA update). AutoMix's paper reports about 2x CutMix's cost (4 forward
passes); the target is at most that. Prints one JSON row per run and one ratio row per method.

Arithmetic floor of an exact AutoMix step, with F one forward and a backward ~2F: CutMix = F + 2F; AutoMix = the
clean k pass (F, or up to ``mix_layer`` with ``truncate_k``) + the k pass on the MixBlock's mixture with a backward to
the input only (F + ~F) + two q passes with full backwards (2 x 3F) = 9F (ResNet) or 8.5F (DeiT-S, truncated at
block 6): ~3x CutMix wherever the step is compute-bound, as it is on a CPU. ``automix_openmixup`` is AutoMix with
OpenMixup's pass structure (``fuse_q=False, truncate_k=False``), to show what those two options buy on a ViT.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MODELS = {
    # name: (backbone, head classes, image size, default batch, MixBlock layer)
    'r18_cifar': (dict(type='TimmBackbone', model_name='resnet18', cifar_stem=True), 100, 32, 100, 'layer3'),
    'deit_s': (dict(type='TimmBackbone', model_name='deit_small_patch16_224'), 1000, 224, 32, 'blocks.5'),
}
METHODS = ['cutmix', 'automix', 'samix', 'puzzlemix', 'attentivemix', 'manifoldmix']
EXTRA_METHODS = ['automix_openmixup']


def model_cfg(model: str, method: str, tmp: str) -> dict:
    backbone, k, _, _, layer = MODELS[model]
    base = dict(backbone=backbone, head=dict(type='LinearClsHead', num_classes=k), label_smoothing=0.0)
    if method in ('automix', 'samix', 'automix_openmixup'):
        block = dict(type='SAMixBlock') if method == 'samix' else dict(type='MixBlock', lam_concat=model == 'deit_s')
        passes = dict(fuse_q=False, truncate_k=False) if method == 'automix_openmixup' else {}
        return dict(base, type='AutoMixClassifier', mix_block=block, mix_layer=layer, **passes)
    mixer = dict(cutmix=dict(type='CutMix', alpha=1.0), manifoldmix=dict(type='ManifoldMix', alpha=2.0),
                 puzzlemix=dict(type='PuzzleMix', alpha=1.0,  # ImageNet grids of configs/mixups at 224 px
                                **(dict(block_num=(2, 4, 8)) if model == 'deit_s' else {})),
                 attentivemix=dict(type='AttentiveMix', alpha=2.0, model_name='resnet18',
                                   checkpoint=f'{tmp}/attentive_r18.pth'))[method]
    return dict(base, type='ImageClassifier', mixer=dict(mixer, seed=0))


def run_one(args) -> dict:
    """Child process: time ``train_step`` of one (model, method)."""
    import resource
    import tempfile

    import timm
    import torch
    from mmengine.optim import build_optim_wrapper

    sys.path.insert(0, str(ROOT / 'benchmarks'))
    from common import describe_env, timed
    from openmix.registry import MODELS as REG
    from openmix.utils.setup_env import register_all_modules
    register_all_modules()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        if args.method == 'attentivemix':  # the frozen pretrained CNN comes from a local file (random weights here)
            torch.save(timm.create_model('resnet18').state_dict(), f'{tmp}/attentive_r18.pth')
        torch.manual_seed(0)
        model = REG.build(model_cfg(args.model, args.method, tmp)).to(device)
        optim = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))
    _, k, size, batch, _ = MODELS[args.model]
    batch = args.batch or batch
    data = dict(inputs=torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8),
                data_samples=dict(gt_label=torch.randint(0, k, (batch,))))
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sec = timed(lambda: model.train_step(data, optim), args.iters, args.warmup, device)
    if device.type == 'cuda':
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2 ** 20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    return dict(bench='train_step', model=args.model, method=args.method, batch=batch, img_size=size,
                ms=round(sec * 1e3, 1), peak_mem_mib=round(peak, 1), **describe_env(device, 'fp32'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', default=list(MODELS), choices=list(MODELS))
    parser.add_argument('--methods', nargs='+', default=METHODS, choices=METHODS + EXTRA_METHODS)
    parser.add_argument('--batch', type=int, default=None, help='default: 100 (ResNet-18 CIFAR), 32 (DeiT-S)')
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default=None)
    parser.add_argument('--child', nargs=2, metavar=('MODEL', 'METHOD'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.child:
        args.model, args.method = args.child
        print(json.dumps(run_one(args)), flush=True)
        return
    from common import compare_to_cutmix_in_children
    child_args = ['--iters', str(args.iters), '--warmup', str(args.warmup), '--device', args.device]
    compare_to_cutmix_in_children(__file__, args.models, args.methods,
                                  child_args + (['--batch', str(args.batch)] if args.batch else []), 'ms')

if __name__ == '__main__':
    main()
