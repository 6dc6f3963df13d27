"""Write a PNG grid of mixed samples: image A, image B, the mix, the partner mask and (TransMix) the attention.

    python tools/visualize_mix.py configs/demo.py [--method CutMix] [--checkpoint work_dirs/demo/epoch_30.pth]
        [--num 8] [--out mix.png] [--seed 0] [--cfg-options ...]

``--method`` replaces the config's mixer by that registered mixer with its defaults (``--method "FMix(alpha=1)"``
style arguments are not parsed: use ``--cfg-options model.mixer=...`` for full control). With a TransMix label
assigner and a ``RandomMix`` that includes CutMix (``configs/demo.py``), the CutMix member is drawn by default (only
its batches get the TransMix label; ``--method Mixup`` shows the other member), the fifth column overlays the class
attention on the mix and each row prints area lam vs TransMix lam (the weight of image A); with a checkpoint the
attention is the trained model's.

For an AutoMix/SAMix config (``configs/demo_automix.py``, ``configs/mixups/*_automix.py``) the pairs and lam are
drawn by CutMix (or ``--method``) and two more columns show the learned MixBlock's mix and mask for the same pairs
and lam, computed from the checkpoint's EMA (k) encoder features:

    python tools/visualize_mix.py configs/demo_automix.py --checkpoint work_dirs/demo_automix/epoch_30.pth
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Visualise the configured mixing on a batch of the training data')
    parser.add_argument('config')
    parser.add_argument('--method', help='mixer type to use instead of the config\'s (e.g. CutMix, FMix, GridMix)')
    parser.add_argument('--checkpoint', help='model weights for the attention (default: the untrained model)')
    parser.add_argument('--ema', action='store_true', help='use the checkpoint\'s EMA weights')
    parser.add_argument('--num', type=int, default=8, help='samples (rows) to show')
    parser.add_argument('--out', default='mix_grid.png')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE')
    return parser.parse_args(argv)


def _attention_labels(model) -> bool:
    """Whether the model's label assigner reads class attention (TransMix), i.e. labels box batches differently."""
    return getattr(getattr(model, 'label_assigner', None), 'probe', None) is not None


def shown_mixer_cfg(mixer_cfg: dict, attention_labels: bool) -> tuple[dict, str | None]:
    """The mixer to draw by default: the config's, or with TransMix labels its CutMix member, and a note saying so.

    A TransMix config mixes with ``RandomMix(Mixup, CutMix)``, and only the CutMix batches get the attention label; a
    Mixup draw would show a flat mask and no TransMix value, so the CutMix member (with the wrapper's pairing) is
    shown. ``--method Mixup`` shows the other member.
    """
    from openmix.mixers.random_mix import openmixup_mixers
    mixer_cfg = dict(mixer_cfg)
    if not attention_labels or mixer_cfg.get('type') != 'RandomMix':
        return mixer_cfg, None
    members = mixer_cfg.get('mixers')
    if members is None and mixer_cfg.get('mix_mode') is not None:
        members = openmixup_mixers(mixer_cfg['mix_mode'], mixer_cfg.get('mix_alpha'))
    cutmix = next((dict(m) for m in members or () if isinstance(m, dict) and m.get('type') == 'CutMix'
                   and m.get('alpha', 1.0) != 0), None)
    if cutmix is None:
        return mixer_cfg, None
    cutmix.update(prob=1.0, **{k: mixer_cfg[k] for k in ('pairing',) if k in mixer_cfg})
    others = ', '.join(m.get('type', '?') for m in members if isinstance(m, dict) and m.get('type') != 'CutMix')
    other = others.split(',')[0] or 'Mixup'
    return cutmix, (f'showing the CutMix member of the config\'s RandomMix ({cutmix}): its batches get the TransMix '
                    f'label; the config also draws {others or "nothing else"} (--method {other} to see it)')


def _to_image(t, mean, std):
    import numpy as np
    from PIL import Image
    arr = (t.float().cpu() * std.view(3, 1, 1) + mean.view(3, 1, 1)).clamp(0, 255).byte().permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(arr))


def _heat(m, size):
    """A (H, W) map in [0, 1] as a red-yellow PIL image."""
    import numpy as np
    from PIL import Image
    a = m.float().clamp(0, 1).cpu().numpy()
    rgb = np.stack([np.ones_like(a), a, np.zeros_like(a)], -1) * (0.25 + 0.75 * a[..., None])
    return Image.fromarray((rgb * 255).astype(np.uint8)).resize(size, Image.NEAREST)


def main(argv=None) -> str:
    import torch
    import torch.nn.functional as F
    from mmengine.dataset import default_collate
    from PIL import Image, ImageDraw

    from openmix.apis import load_config
    from openmix.mixers.geometry import box_mask
    from openmix.registry import DATASETS, MIXERS, MODELS
    from openmix.utils.weights import load_model_weights

    args = parse_args(argv)
    cfg = load_config(argparse.Namespace(config=args.config, cfg_options=args.cfg_options, launcher='none'))
    torch.manual_seed(args.seed)
    import random
    random.seed(args.seed)
    model = MODELS.build(cfg.model)
    if args.checkpoint:
        load_model_weights(model, args.checkpoint, ema=args.ema)
    learned = hasattr(model, 'mix_block')  # AutoMix / SAMix: shown beside CutMix on the same pairs
    if args.method or learned:
        model.mixer = MIXERS.build(dict(type=args.method or 'CutMix', seed=args.seed))
    elif model.mixer is None:
        raise SystemExit(f'{args.config} has no model.mixer: pass --method (e.g. --method CutMix)')
    else:
        shown, note = shown_mixer_cfg(cfg.model.mixer, attention_labels=_attention_labels(model))
        model.mixer = MIXERS.build(dict(shown, seed=args.seed))
        if note:
            print(note)
    model.eval()
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    n = min(args.num, len(dataset))
    step = max(len(dataset) // n, 1)
    batch = default_collate([dataset[i * step] for i in range(n)])
    data = model.data_preprocessor(batch, False)
    x = data['inputs']
    mixed = model.mixer(x.clone())
    partner = x[mixed.index]
    if mixed.mask is not None and mixed.mask.shape[-1] == x.shape[-1]:
        mask = mixed.mask[:, 0].expand(n, -1, -1)
    elif mixed.box is not None and mixed.is_box is not None and mixed.is_box.any():
        mask = box_mask(mixed.box, x.shape[-2:])[:, 0].float()
    else:  # any linear mix: the partner's weight per pixel, (mix - a) / (b - a)
        num, den = (mixed.inputs - x).mean(1), (partner - x).mean(1)
        mask = torch.where(den.abs() > 1e-3, num / den, torch.zeros_like(den)).clamp(0, 1)
    attn, lam_tm = None, None
    assigner = model.label_assigner
    if hasattr(assigner, 'probe') and assigner.probe is not None:
        assigner.probe.active = True
        with torch.no_grad():
            model.backbone(mixed.inputs)
        attn = assigner.probe.pop()
        assigner.probe.active = False
        if mixed.box is not None and mixed.is_box is not None:
            lam_tm = assigner.transmix_lam(mixed.lam, mixed, attn)
    learned_mix = learned_mask = None
    if learned:
        lam = float(mixed.lam[mixed.index != torch.arange(n)].min()) if (mixed.index != torch.arange(n)).any() else 1.0
        with torch.no_grad():
            feat = model.mix_features(x)
            learned_mask = model.mix_block(feat, lam, mixed.index, model.scale_factor(x.shape[-2:], feat.shape[-2:]))
        learned_mix = model.mix(x, mixed.index, learned_mask.to(x.dtype))
        learned_mask = learned_mask[:, 0]
    mean = model.data_preprocessor.mean.flatten()
    std = model.data_preprocessor.std.flatten()
    tile = max(96, x.shape[-1])
    titles = ['A', 'B (partner)', 'mix', 'mask (B share)']
    if attn is not None:
        titles.append('attention on mix')
    if learned:
        name = 'SAMix' if type(model.mix_block).__name__ == 'SAMixBlock' else 'AutoMix'
        titles[2:4] = [f'{mixed.mode} mix', f'{mixed.mode} mask']
        titles += [f'{name} mix', f'{name} mask']
    cols = len(titles)
    sheet = Image.new('RGB', (cols * (tile + 4), n * (tile + 18) + 18), 'white')
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(titles):
        draw.text((c * (tile + 4) + 4, 2), title, fill='black')
    for i in range(n):
        y = 18 + i * (tile + 18)
        tiles = [_to_image(x[i], mean, std), _to_image(partner[i], mean, std), _to_image(mixed.inputs[i], mean, std),
                 _heat(mask[i], (tile, tile))]
        if attn is not None:
            side = int(attn.shape[1] ** 0.5)
            a = attn[i].view(1, 1, side, -1)
            a = F.interpolate(a / a.max(), size=x.shape[-2:], mode='nearest')[0, 0]
            tiles.append(Image.blend(tiles[2].convert('RGB'), _heat(a, tuple(x.shape[-2:][::-1])), 0.5))
        if learned:
            tiles += [_to_image(learned_mix[i], mean, std), _heat(learned_mask[i], (tile, tile))]
        for c, im in enumerate(tiles):
            sheet.paste(im.resize((tile, tile), Image.NEAREST), (c * (tile + 4), y))
        text = f'{mixed.mode}: lam(A) area {mixed.lam[i]:.3f}'
        if lam_tm is not None:
            text += f'  TransMix {lam_tm[i]:.3f}'
        if learned:
            text += f'  learned mask: A share {1 - learned_mask[i].mean():.3f}'
        draw.text((4, y + tile + 2), text, fill='black')
        print(f'row {i}: {text}')
    sheet.save(args.out)
    print(f'wrote {args.out} ({n} rows: {", ".join(titles)})')
    return args.out


if __name__ == '__main__':
    main()
