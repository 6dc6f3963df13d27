"""Packed image store: an ImageNet-style tree pre-resized once into one memory-mapped data file plus a small index.

Layout of a store written by ``tools/pack_dataset.py`` (:func:`pack_images`), one pair of files per split::

    <root>/<split>.bin          the images back to back: JPEG bytes (``format='jpeg'``) or raw HWC uint8 (``'raw'``)
    <root>/<split>.index.npz    offsets, lengths, shapes (H, W, 3), labels, keys (path relative to the source
                                split folder) of the rows written so far, and ``meta`` (JSON: classes, format,
                                short side, quality, rows planned, valid data length, complete flag)

Each image is resized once so that its short side is ``short_side`` (PIL bicubic, antialiased when reducing; the long
side ``int(short_side * long / short)``, torchvision ``Resize``'s rule), so training only decodes. Packing runs in
chunks; after each chunk the data file is flushed and the index is written to a temporary file and renamed over the
old one, so the index always describes a prefix of the data file (``meta['valid_bytes']``). A rerun truncates the
data file to that length and packs only the remaining rows: an interrupted pack resumes to the same store a straight
pack writes.

:class:`PackedImageNet` reads a store: one image per item, decoded on the CPU (PIL, or torchvision's libjpeg-turbo
decoder) into ``dict(img=PIL RGB, img_path=key, gt_label)`` for the existing pipelines (DeiT's RandomResizedCrop,
flip, RandAugment, ``PackInputs``), or, with ``decode='device'``, the undecoded JPEG bytes, decoded a batch at a
time by :func:`packed_decode_collate` (batched nvJPEG through ``torchvision.io.decode_jpeg(..., device='cuda')``
where CUDA is present, the same call on the CPU otherwise).

Example:
    >>> pack_images('data/imagenet', 'data/imagenet_packed', split='train', short_side=288, workers=16)
    >>> ds = PackedImageNet('data/imagenet_packed', split='train', pipeline=train_pipeline)
"""
from __future__ import annotations

import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from openmix.datasets.base import BaseImageDataset, CorruptImageError, load_rgb
from openmix.registry import DATASETS, FUNCTIONS

__all__ = ['PackedImageNet', 'pack_images', 'read_index', 'store_paths', 'resize_short_side', 'encode_image',
           'packed_decode_collate', 'GPU_REPORT_OPTIONS']

INDEX_VERSION = 1
FORMATS = ('jpeg', 'raw')
DECODERS = ('pil', 'torchvision', 'device')


def store_paths(root: str | os.PathLike, split: str) -> tuple[Path, Path]:
    """``(data file, index file)`` of ``split`` in the store at ``root``."""
    root = Path(root)
    return root / f'{split}.bin', root / f'{split}.index.npz'


def resize_short_side(img: Image.Image, short_side: int) -> Image.Image:
    """``img`` resized (PIL bicubic, antialiased when reducing) so its short side is ``short_side``; the long side is
    ``int(short_side * long / short)`` as torchvision's ``Resize(int)``; unchanged when already that size."""
    w, h = img.size
    if min(w, h) == short_side:
        return img
    if w <= h:
        size = (short_side, int(short_side * h / w))
    else:
        size = (int(short_side * w / h), short_side)
    return img.resize(size, Image.BICUBIC)


def encode_image(job: tuple[str, int | None, str, int]) -> tuple[bytes, tuple[int, int, int]]:
    """Read, resize and encode one image: ``(path, short_side or None, format, quality)`` -> ``(bytes, (H, W, 3))``.

    Raises :class:`CorruptImageError` naming the file when it cannot be read.
    """
    path, short_side, fmt, quality = job
    img = load_rgb(path)
    if short_side:
        img = resize_short_side(img, short_side)
    shape = (img.height, img.width, 3)
    if fmt == 'raw':
        return np.asarray(img, dtype=np.uint8).tobytes(), shape
    buf = io.BytesIO()
    img.save(buf, format='JPEG', quality=quality)
    return buf.getvalue(), shape


# ------------------------------------------------------------------------------------------------------------ index
def read_index(index_path: str | os.PathLike) -> dict:
    """The index arrays (``offsets``, ``lengths``, ``shapes``, ``labels``, ``keys``) and ``meta`` (a dict)."""
    with np.load(index_path, allow_pickle=False) as z:
        out = {k: z[k] for k in ('offsets', 'lengths', 'shapes', 'labels', 'keys')}
        out['meta'] = json.loads(str(z['meta']))
    return out


def _write_index(index_path: Path, rows: dict, meta: dict) -> None:
    """Write the index atomically (``AtomicLocalBackend``: temporary file, fsync, rename, directory fsync)."""
    from openmix.utils.checkpoint import AtomicLocalBackend
    arrays = dict(offsets=np.asarray(rows['offsets'], dtype=np.int64), lengths=np.asarray(rows['lengths'], np.int64),
                  shapes=np.asarray(rows['shapes'], dtype=np.int32).reshape(-1, 3),
                  labels=np.asarray(rows['labels'], dtype=np.int64), keys=np.asarray(rows['keys'], dtype=np.str_),
                  meta=np.asarray(json.dumps(meta)))
    AtomicLocalBackend._atomic_write(index_path, lambda f: np.savez(f, **arrays), 'wb')


def _source_dataset(source: str | os.PathLike, split: str):
    """The class-folder dataset of ``source`` (a config file, an ImageNet root, or a class-folder root) and the
    folder its image keys are relative to."""
    from openmix.datasets.imagenet import ImageFolder, ImageNet
    src = Path(source).expanduser()
    if src.is_file():  # a config: the split's dataloader dataset, without its pipeline
        from mmengine.config import Config

        from openmix.utils.setup_env import register_all_modules
        register_all_modules()
        cfg = Config.fromfile(str(src))
        loader = f'{split}_dataloader' if f'{split}_dataloader' in cfg else 'train_dataloader'
        ds_cfg = dict(cfg[loader].dataset)
        ds_cfg['pipeline'] = []
        if split not in ('train', 'val', 'test') and 'split' in ds_cfg:
            ds_cfg['split'] = split
        dataset = DATASETS.build(ds_cfg)
    elif (src / split).is_dir():
        dataset = ImageNet(str(src), split=split)
    elif src.is_dir():
        dataset = ImageFolder(str(src))
    else:
        raise FileNotFoundError(f'pack: {src.absolute()} is neither a config file nor a dataset folder')
    base = getattr(dataset, 'data_root', None) or (src if src.is_dir() else None)
    if base is None:  # a config's ImageFolder: the folder above the class folders
        base = os.path.commonpath([os.path.dirname(os.path.dirname(p)) for p, _ in dataset.samples] or ['.'])
    base = Path(base)
    if (base / getattr(dataset, 'split', split)).is_dir():
        base = base / getattr(dataset, 'split', split)
    return dataset, base


def pack_images(source: str | os.PathLike, out: str | os.PathLike, split: str = 'train', short_side: int | None = 288,
                fmt: str = 'jpeg', quality: int = 95, workers: int = 0, chunk: int = 1024, limit: int | None = None,
                commit_s: float = 10.0, log: Callable[[str], None] | None = print) -> Path:
    """Pack ``split`` of ``source`` into ``<out>/<split>.{bin,index.npz}`` (see the module docstring); resumable.

    Args:
        source: A config file (its ``<split>_dataloader.dataset``), an ImageNet root (``<root>/<split>/<class>/``)
            or a class-folder root; files are listed and labelled as the openmix dataset lists them.
        out: Store folder.
        split: Split name.
        short_side: Resize so the short side is this (None: keep the size).
        fmt: ``'jpeg'`` (re-encoded at ``quality``) or ``'raw'`` (HWC uint8).
        workers: Encoding processes (0: in this process).
        chunk: Rows encoded per step (one progress line each).
        limit: Stop after this many rows in total (the store stays incomplete; a rerun without it finishes).
        commit_s: Commit (data flushed, index renamed into place) after the first chunk that ends this many seconds
            after the last commit, and at the end: the index is rewritten whole, so commits are spaced in time to keep
            a 1.3M-row pack linear; an interruption loses at most that much work.
        log: Progress lines (rows, img/s, ETA); None for silence.

    Returns:
        The index path.
    """
    if fmt not in FORMATS:
        raise ValueError(f'pack: format must be one of {FORMATS}, got {fmt!r}')
    dataset, base = _source_dataset(source, split)
    paths = [p for p, _ in dataset.samples]
    labels = [int(label) for _, label in dataset.samples]
    keys = [os.path.relpath(p, base).replace(os.sep, '/') for p in paths]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data_path, index_path = store_paths(out, split)
    for stale in out.glob(f'.{index_path.name}.tmp*'):  # left by a run killed while writing its index
        stale.unlink(missing_ok=True)
    meta = dict(version=INDEX_VERSION, split=split, classes=list(dataset.classes), format=fmt, short_side=short_side,
                quality=quality if fmt == 'jpeg' else None, num_rows=len(paths), source=str(Path(source).absolute()),
                valid_bytes=0, complete=False)
    rows = dict(offsets=[], lengths=[], shapes=[], labels=[], keys=[])
    if index_path.is_file():
        old = read_index(index_path)
        same = {k: old['meta'].get(k) for k in ('classes', 'format', 'short_side', 'quality', 'num_rows')}
        want = {k: meta[k] for k in same}
        done = len(old['keys'])
        if same != want or list(old['keys']) != keys[:done] or list(old['labels']) != labels[:done]:
            raise FileExistsError(f'pack: {index_path} was written from another listing or with other settings '
                                  f'({same} vs {want}); remove {data_path} and {index_path} to repack')
        rows = {k: old[k].tolist() for k in rows}
        meta['valid_bytes'] = int(old['meta']['valid_bytes'])
    done = len(rows['keys'])
    stop = len(paths) if limit is None else min(len(paths), int(limit))
    if data_path.is_file() and data_path.stat().st_size < meta['valid_bytes']:
        raise ValueError(f'pack: {data_path} is shorter than the {meta["valid_bytes"]} bytes {index_path.name} '
                         f'records; remove both files to repack')
    with open(data_path, 'ab') as f:
        # bytes after the recorded valid length were appended by an interrupted chunk whose index never landed
        f.truncate(meta['valid_bytes'])
    if done and log:
        log(f'pack {split}: resuming at row {done}/{len(paths)} ({meta["valid_bytes"] / 2**20:.1f} MiB valid)')
    pool = get_context('spawn' if sys.platform == 'win32' else 'fork').Pool(workers) if workers > 0 else None
    start, first = time.perf_counter(), done
    sleep = float(os.environ.get('OPENMIX_PACK_CHUNK_SLEEP', 0))  # tests: time to interrupt between chunks
    try:
        with open(data_path, 'r+b') as f:
            offset = meta['valid_bytes']
            f.seek(offset)
            last_commit = time.monotonic()
            while done < stop:
                end = min(done + chunk, stop)
                jobs = [(paths[i], short_side, fmt, quality) for i in range(done, end)]
                encoded = pool.map(encode_image, jobs, chunksize=max(1, len(jobs) // (4 * workers))) if pool else \
                    [encode_image(j) for j in jobs]
                for i, (blob, shape) in zip(range(done, end), encoded):
                    f.write(blob)
                    rows['offsets'].append(offset)
                    rows['lengths'].append(len(blob))
                    rows['shapes'].append(shape)
                    rows['labels'].append(labels[i])
                    rows['keys'].append(keys[i])
                    offset += len(blob)
                done = end
                if done == stop or time.monotonic() - last_commit >= commit_s:
                    f.flush()
                    os.fsync(f.fileno())  # the data first: the index never points past what is on disk
                    meta['valid_bytes'] = offset
                    meta['complete'] = done == len(paths)
                    _write_index(index_path, rows, meta)
                    last_commit = time.monotonic()
                if log:
                    rate = (done - first) / max(time.perf_counter() - start, 1e-9)
                    eta = (stop - done) / rate if rate > 0 else math.inf
                    log(f'pack {split}: {done}/{len(paths)} rows, {rate:.0f} img/s, {offset / 2**20:.1f} MiB, '
                        f'eta {eta:.0f} s')
                if sleep:
                    time.sleep(sleep)
    finally:
        if pool is not None:
            pool.terminate()
    if not index_path.is_file():  # an empty listing never reaches the loop
        _write_index(index_path, rows, dict(meta, complete=done == len(paths)))
    return index_path


# ---------------------------------------------------------------------------------------------------------- reading
@DATASETS.register_module()
class PackedImageNet(BaseImageDataset):
    """A split of a packed store (:func:`pack_images`), read through a memory map of its data file.

    Items are what :class:`BaseImageDataset` gives (``dict(img=PIL RGB, img_path=key, gt_label)`` through
    ``pipeline``), so configs written for ``ImageNet`` run on it by changing ``type`` and ``data_root``. With
    ``decode='device'`` the pipeline is not run: each item is ``dict(inputs=uint8 (L,) JPEG bytes (or a decoded
    (3, H, W) tensor for a raw store), data_samples=dict(gt_label))`` and :func:`packed_decode_collate`
    (``collate_fn=dict(type='openmix.packed_decode_collate', size=224)``) decodes and crops the batch.

    Args:
        data_root: The store folder.
        split: Which split's files.
        pipeline: Transforms (as for ``ImageNet``); must be empty with ``decode='device'``.
        decode: ``'pil'`` (default, as the folder datasets decode), ``'torchvision'`` (``torchvision.io.decode_jpeg``
            on the CPU) or ``'device'`` (bytes to the collate function).
        allow_incomplete: Read a store whose packing has not finished (only the rows written so far).
        skip_corrupt: See :class:`BaseImageDataset`.
    """

    def __init__(self, data_root: str, split: str = 'train', pipeline: Sequence = (), decode: str = 'pil',
                 allow_incomplete: bool = False, skip_corrupt: bool = False) -> None:
        if decode not in DECODERS:
            raise ValueError(f'PackedImageNet: decode must be one of {DECODERS}, got {decode!r}')
        data_path, index_path = store_paths(Path(data_root).expanduser(), split)
        if not index_path.is_file():
            raise FileNotFoundError(f'PackedImageNet: no packed split {split!r} in {Path(data_root).absolute()} '
                                    f'(expected {index_path.name} and {data_path.name}); write it with '
                                    f'`python tools/pack_dataset.py DATA_ROOT --out {data_root} --split {split}`')
        index = read_index(index_path)
        self.meta = index['meta']
        if not self.meta['complete'] and not allow_incomplete:
            raise ValueError(f'PackedImageNet: {index_path} holds {len(index["keys"])} of {self.meta["num_rows"]} '
                             'rows (packing was interrupted); rerun tools/pack_dataset.py with the same arguments to '
                             'finish it, or set allow_incomplete=True')
        if data_path.stat().st_size < self.meta['valid_bytes']:
            raise ValueError(f'PackedImageNet: {data_path} is shorter than the {self.meta["valid_bytes"]} bytes its '
                             'index records; repack')
        if decode == 'device' and list(pipeline):
            raise ValueError("PackedImageNet: decode='device' hands undecoded bytes to packed_decode_collate, which "
                             'crops the batch; set pipeline=[] (the remaining augmentation runs on the device)')
        self.data_root, self.split, self.decode = str(data_root), split, decode
        self.data_path = str(data_path)
        self.offsets, self.lengths = index['offsets'], index['lengths']
        self.shapes, self.labels = index['shapes'], index['labels']
        self._data = None  # opened lazily in each process (loader workers map the file themselves)
        samples = list(zip(index['keys'].tolist(), index['labels'].tolist()))
        super().__init__(samples, self.meta['classes'], pipeline, skip_corrupt)

    def __getstate__(self) -> dict:
        return dict(self.__dict__, _data=None)

    def raw_bytes(self, idx: int) -> np.ndarray:
        """The stored bytes of row ``idx`` (a read-only view of the memory map)."""
        if self._data is None:
            self._data = np.memmap(self.data_path, dtype=np.uint8, mode='r', shape=(self.meta['valid_bytes'],)) \
                if self.meta['valid_bytes'] else np.zeros(0, np.uint8)
        start = int(self.offsets[idx])
        return self._data[start:start + int(self.lengths[idx])]

    def load_array(self, idx: int) -> np.ndarray:
        """Row ``idx`` decoded as ``(H, W, 3)`` uint8 (with this dataset's decoder; ``'device'`` decodes with PIL)."""
        blob = self.raw_bytes(idx)
        try:
            if self.meta['format'] == 'raw':
                return np.asarray(blob).reshape(tuple(int(s) for s in self.shapes[idx]))
            if self.decode == 'torchvision':
                from torchvision.io import ImageReadMode, decode_jpeg
                return decode_jpeg(torch.from_numpy(np.array(blob)), mode=ImageReadMode.RGB).permute(1, 2, 0).numpy()
            with Image.open(io.BytesIO(blob.tobytes())) as img:
                return np.asarray(img.convert('RGB'))
        except (OSError, RuntimeError, ValueError) as e:
            raise CorruptImageError(f'cannot decode row {idx} ({self.samples[idx][0]}) of {self.data_path}: '
                                    f'{type(e).__name__}: {e}') from e

    def load_image(self, idx: int) -> Image.Image:
        return Image.fromarray(self.load_array(idx))

    def __getitem__(self, idx: int) -> dict:
        if self.decode != 'device':
            return super().__getitem__(idx)
        label = int(self.labels[idx])
        if self.meta['format'] == 'raw':
            inputs = torch.from_numpy(np.ascontiguousarray(self.load_array(idx).transpose(2, 0, 1)))
        else:
            inputs = torch.from_numpy(np.array(self.raw_bytes(idx)))
        return dict(inputs=inputs, data_samples=dict(gt_label=label))


def _decode_device(device: str | torch.device | None) -> torch.device:
    """CUDA when present and this is the main process (CUDA cannot be used in forked loader workers), else CPU."""
    if device is not None:
        return torch.device(device)
    in_worker = torch.utils.data.get_worker_info() is not None
    return torch.device('cuda') if torch.cuda.is_available() and not in_worker else torch.device('cpu')


@FUNCTIONS.register_module()
def packed_decode_collate(batch: Sequence[dict], size: int | Sequence[int] | None = None,
                          scale: Sequence[float] = (0.08, 1.0), ratio: Sequence[float] = (3 / 4, 4 / 3),
                          interpolation: str = 'bicubic', device: str | torch.device | None = None,
                          pipeline: Sequence[dict] = ()) -> dict:
    """Decode a batch of :class:`PackedImageNet` ``decode='device'`` items at once, crop them to one size and run the
    rest of the train pipeline batched on the decode device.

    JPEG bytes are decoded by one ``torchvision.io.decode_jpeg(list, device=...)`` call: batched nvJPEG on CUDA
    (when present and not in a loader worker; use ``num_workers=0``), libjpeg-turbo on the CPU otherwise.
    With ``size`` each image gets its own RandomResizedCrop box (timm's sampling, Python ``random``, as the CPU
    transform) resized to ``size`` (``interpolation``, antialiased); without it all images must share one shape.
    ``pipeline`` is the part of the train pipeline after the crop (e.g. ``RandomHorizontalFlip``, ``RandAugment``,
    ``ColorJitter``; a trailing ``PackInputs`` is accepted), translated to the batched device ops of
    :class:`openmix.datasets.device_ops.DevicePipeline` and drawn from a generator seeded from Python's ``random``
    (as the crop boxes), so a run that restores the RNG states (``RandomStateHook``) replays the same augmentations.

    Returns:
        ``dict(inputs=uint8 (B, 3, H, W) on the decode device, data_samples=dict(gt_label=(B,) int64[,
        crop_box=(B, 4) (top, left, h, w)]))``, the data contract of the other loaders.
    """
    import torchvision.transforms.functional as TF
    from timm.data.transforms import RandomResizedCropAndInterpolation, str_to_interp_mode
    from torchvision.io import ImageReadMode, decode_jpeg

    dev = _decode_device(device)
    inputs = [item['inputs'] for item in batch]
    jpeg = [i for i, t in enumerate(inputs) if t.ndim == 1]
    images = list(inputs)
    if jpeg:
        decoded = decode_jpeg([inputs[i] for i in jpeg], mode=ImageReadMode.RGB, device=dev)
        for i, img in zip(jpeg, decoded):
            images[i] = img
    images = [img.to(dev, non_blocking=True) for img in images]
    samples = dict(gt_label=torch.as_tensor([int(item['data_samples']['gt_label']) for item in batch],
                                            dtype=torch.int64))
    if size is None:
        shapes = {tuple(img.shape) for img in images}
        if len(shapes) > 1:
            raise ValueError(f'packed_decode_collate: images of {len(shapes)} sizes ({sorted(shapes)[:3]}...) cannot '
                             'be stacked; set size= to crop them (RandomResizedCrop)')
        return dict(inputs=torch.stack(images), data_samples=samples)
    out_size = [size, size] if isinstance(size, int) else list(size)
    mode = str_to_interp_mode(interpolation)
    boxes, crops = [], []
    for img in images:
        top, left, h, w = RandomResizedCropAndInterpolation.get_params(img, tuple(scale), tuple(ratio))
        boxes.append((top, left, h, w))
        crops.append(TF.resized_crop(img, top, left, h, w, out_size, mode, antialias=True))
    samples['crop_box'] = torch.as_tensor(boxes, dtype=torch.int64)
    out = torch.stack(crops)
    if pipeline:
        import random
        pipe = _device_pipeline(tuple(repr(t) for t in pipeline), pipeline)
        out = pipe(out, torch.Generator(device=dev).manual_seed(random.getrandbits(63)))
    return dict(inputs=out, data_samples=samples)


_PIPELINES: dict = {}


def _device_pipeline(key: tuple, pipeline: Sequence[dict]):
    """The :class:`DevicePipeline` of ``pipeline``, built once per distinct pipeline (ops hold lookup tables)."""
    from openmix.datasets.device_ops import DevicePipeline
    if key not in _PIPELINES:
        if any((t.get('type') if isinstance(t, dict) else None) in ('RandomResizedCrop', 'RandomCrop')
               for t in pipeline):
            raise ValueError('packed_decode_collate: pipeline must hold only the transforms after the crop (the '
                             'collate crops with size=/scale=/ratio=); got a crop in '
                             f'{[t.get("type") if isinstance(t, dict) else t for t in pipeline]}')
        _PIPELINES[key] = DevicePipeline([dict(t) for t in pipeline])
    return _PIPELINES[key]



def GPU_REPORT_OPTIONS(sizes: dict) -> list[str]:  # noqa: N802 (the name benchmarks/gpu_report.py probes for)
    """Pack a JPEG tree and return the ``tools/train.py --cfg-options`` of ``benchmarks/gpu_report.py``'s
    packed-store end-to-end row at the report's ``sizes``.

    The tree is the report's JPEG row's: ``jpeg_images`` random smooth JPEGs (``jpeg_side`` x ``1.25 jpeg_side``)
    listed ``batch * 3 * e2e_window`` times in ImageNet's annotation layout (1000 classes), written to a temporary
    folder and packed at short side ``jpeg_side`` with ``e2e_workers`` processes (packing time is not in the row).
    The store is read with ``decode='device'``: :func:`packed_decode_collate` decodes each batch in one call (nvJPEG
    on CUDA, in the main process: ``num_workers=0``) and crops it to ``img`` (per-sample RandomResizedCrop, bicubic);
    then flips and runs RandAugment ``rand-m9-mstd0.5-inc1`` batched on the same device (DeiT's recipe after the
    crop); random erasing and Mixup/CutMix run in the model as on every path.
    """
    import atexit
    import shutil
    import tempfile
    tmp = Path(tempfile.mkdtemp(prefix='openmix_packed_report_'))
    atexit.register(shutil.rmtree, tmp, True)
    side, n_images = int(sizes['jpeg_side']), int(sizes['jpeg_images'])
    samples = int(sizes['batch']) * 3 * int(sizes['e2e_window'])
    tree = tmp / 'jpeg'
    (tree / 'train').mkdir(parents=True)
    (tree / 'meta').mkdir()
    rng = np.random.default_rng(0)
    for i in range(n_images):
        small = rng.integers(0, 256, (side // 8, side * 5 // 32, 3), dtype=np.uint8)
        Image.fromarray(small).resize((side * 5 // 4, side), Image.BILINEAR).save(tree / 'train' / f'{i}.jpg',
                                                                                  quality=90)
    (tree / 'meta' / 'classes.txt').write_text(''.join(f'n{i:08d}\n' for i in range(1000)))
    (tree / 'meta' / 'train.txt').write_text(''.join(f'{i % n_images}.jpg {i % 1000}\n' for i in range(samples)))
    pack_images(tree, tmp / 'packed', split='train', short_side=side, workers=int(sizes.get('e2e_workers', 0)),
                log=None)
    dataset = dict(_delete_=True, type='PackedImageNet', data_root=str(tmp / 'packed'), split='train',
                   decode='device', pipeline=[])
    after_crop = [dict(type='RandomHorizontalFlip', prob=0.5),
                  dict(type='RandAugment', config_str='rand-m9-mstd0.5-inc1', img_mean=(124, 116, 104),
                       interpolation='bicubic', img_size=int(sizes['img']))]
    collate = dict(_delete_=True, type='openmix.packed_decode_collate', size=int(sizes['img']),
                   interpolation='bicubic', pipeline=after_crop)
    return [f'train_dataloader.dataset={dataset!r}', f'train_dataloader.collate_fn={collate!r}']
