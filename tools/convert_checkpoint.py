"""Convert a released checkpoint to openmix's layout: ``python tools/convert_checkpoint.py SRC DST [--from LAYOUT]``.

``--from`` is ``transmix`` (TransMix's timm ``train.py`` checkpoints and the DeiT/CaiT/XCiT ``main.py`` ones),
``tokenlabeling`` (official LV-ViT) or ``openmixup`` (``MixUpClassification``); by default it is detected from the
parameter names. DST holds ``{'state_dict': ..., 'meta': {...}}`` and loads with ``load_from`` or ``tools/test.py``
(which also take SRC as it is: the conversion runs on load). The file is read weights-only and written atomically.
"""
import argparse
import io
import os.path as osp
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args(argv=None):
    from openmix.utils.convert import LAYOUTS
    parser = argparse.ArgumentParser(description='Convert a released checkpoint to openmix\'s layout')
    parser.add_argument('src', help='released checkpoint')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument('--from', dest='source', choices=LAYOUTS, help='layout of SRC (default: detected)')
    parser.add_argument('--ema', action='store_true', help='take the EMA weights (state_dict_ema / model_ema)')
    return parser.parse_args(argv)


def main(argv=None):
    import torch

    from openmix.utils.checkpoint import AtomicLocalBackend, allow_mmengine_checkpoint_globals, load_checkpoint_file
    from openmix.utils.convert import convert_checkpoint, detect_layout

    args = parse_args(argv)
    allow_mmengine_checkpoint_globals()  # argparse.Namespace of timm/DeiT checkpoints; weights-only stays on
    checkpoint = load_checkpoint_file(args.src, map_location='cpu')
    layout = args.source or detect_layout(checkpoint)
    if layout in (None, 'openmix'):
        raise SystemExit(f'{args.src}: layout {"not recognised" if layout is None else "already openmix"}; pass '
                         f'--from to force a converter')
    converted = convert_checkpoint(checkpoint, layout, ema=args.ema)
    converted['meta'].update(source=osp.abspath(args.src), ema=args.ema)
    buffer = io.BytesIO()
    torch.save(converted, buffer)
    AtomicLocalBackend().put(buffer.getvalue(), args.dst)
    print(f'{args.src} ({layout}{", EMA" if args.ema else ""}): {len(converted["state_dict"])} tensors -> {args.dst}')


if __name__ == '__main__':
    main()
