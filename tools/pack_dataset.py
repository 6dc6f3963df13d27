"""Pack an ImageNet-style class-folder tree into a memory-mapped store read by ``PackedImageNet``.

    python tools/pack_dataset.py data/imagenet --out data/imagenet_packed --split train --short-side 288 --workers 16
    python tools/pack_dataset.py configs/deit_s_baseline.py --out data/imagenet_packed --split val

Images are resized once (short side ``--short-side``, PIL bicubic) and stored as JPEG (``--quality``) or raw uint8
in ``<out>/<split>.bin`` with ``<out>/<split>.index.npz``. Rerunning the same command after an interruption packs
only the rows not yet committed. See openmix/datasets/packed.py for the format.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Pack an ImageNet-style tree into a memory-mapped store')
    p.add_argument('source', help='a config (its <split>_dataloader.dataset), an ImageNet root or a class-folder root')
    p.add_argument('--out', required=True, help='store folder')
    p.add_argument('--split', default='train')
    p.add_argument('--short-side', type=int, default=288, help='resize so the short side is this; 0 keeps the size')
    p.add_argument('--format', choices=['jpeg', 'raw'], default='jpeg')
    p.add_argument('--quality', type=int, default=95, help='JPEG quality')
    p.add_argument('--workers', type=int, default=0, help='encoding processes (0: this process)')
    p.add_argument('--chunk', type=int, default=1024, help='rows encoded per step (one progress line each)')
    p.add_argument('--commit-seconds', type=float, default=10.0,
                   help='commit (flush data, rename index) at most this often; an interruption loses at most this')
    p.add_argument('--limit', type=int, default=None, help='stop after this many rows (a rerun finishes)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    from openmix.datasets.packed import pack_images
    args = parse_args(argv)
    try:
        index = pack_images(args.source, args.out, split=args.split, short_side=args.short_side or None,
                            fmt=args.format, quality=args.quality, workers=args.workers, chunk=args.chunk,
                            limit=args.limit, commit_s=args.commit_seconds,
                            log=lambda m: print(m, flush=True))
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'index: {index}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
