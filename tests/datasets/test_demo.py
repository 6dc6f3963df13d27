"""The built-in demo dataset: determinism, layout, atomic and locked generation, coverage, and the dataset class."""
from __future__ import annotations

import hashlib
import json
import math
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openmix.datasets import demo
from openmix.datasets.demo import (COVERAGE_RANGE, SHAPE_NAMES, DemoShapes, demo_class_names, generate_demo_dataset,
                                   read_demo_meta, render_demo_image)

SMALL = dict(num_classes=10, train_per_class=3, val_per_class=2, image_size=32)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    a = _hashes(generate_demo_dataset(tmp_path / 'a', seed=0, **SMALL))
    b = _hashes(generate_demo_dataset(tmp_path / 'b', seed=0, **SMALL))
    c = _hashes(generate_demo_dataset(tmp_path / 'c', seed=1, **SMALL))
    assert len(a) == 10 * (3 + 2) + 1  # images + meta.json
    assert a == b
    assert a.keys() == c.keys()
    # Every image changes with the seed, not just some.
    assert all(a[k] != c[k] for k in a if k.endswith('.JPEG'))


def test_images_do_not_depend_on_generation_order(tmp_path):
    """Per-image generators are seeded by (seed, split, class, index): more images per class keep the first ones."""
    few = _hashes(generate_demo_dataset(tmp_path / 'few', seed=3, **SMALL))
    more = _hashes(generate_demo_dataset(tmp_path / 'more', seed=3, **{**SMALL, 'train_per_class': 5}))
    shared = [k for k in few if k.endswith('.JPEG')]
    assert len(shared) == 50
    assert all(few[k] == more[k] for k in shared)
    # Rendering one image alone gives the pixels of the one rendered in the full sweep.
    img, info = render_demo_image(3, 'train', 4, 1, 32)
    again, info2 = render_demo_image(3, 'train', 4, 1, 32)
    assert np.array_equal(img, again) and info == info2
    assert read_demo_meta(tmp_path / 'few')['objects']['train']['04_cross/00001.JPEG'] == info


def test_layout_counts_and_meta(tmp_path):
    root = generate_demo_dataset(tmp_path / 'demo', seed=0, **SMALL)
    assert root == (tmp_path / 'demo').absolute()
    classes = demo_class_names(10)
    assert classes[:3] == ['00_disc', '01_square', '02_triangle'] and classes[9] == '09_arrow'
    for split, n in (('train', 3), ('val', 2)):
        assert sorted(p.name for p in (root / split).iterdir()) == classes
        for cls in classes:
            files = sorted(p.name for p in (root / split / cls).iterdir())
            assert files == [f'{i:05d}.JPEG' for i in range(n)]
    with Image.open(root / 'train' / '03_star' / '00002.JPEG') as im:
        assert im.format == 'JPEG' and im.mode == 'RGB' and im.size == (32, 32)
    meta = json.loads((root / 'meta.json').read_text())
    assert meta['version'] == demo.DEMO_VERSION
    assert meta['params'] == dict(version=demo.DEMO_VERSION, num_classes=10, train_per_class=3, val_per_class=2,
                                  image_size=32, seed=0)
    assert meta['counts'] == {'train': 30, 'val': 20}
    assert meta['classes'] == classes
    assert len(meta['objects']['train']) == 30 and len(meta['objects']['val']) == 20
    # Nothing but the tree, its lock file and no temporary folder is left beside root.
    assert sorted(p.name for p in tmp_path.iterdir()) == ['.demo.lock', 'demo']


def test_crash_mid_generation_leaves_no_tree_that_looks_complete(tmp_path, monkeypatch):
    root = tmp_path / 'demo'
    calls = {'n': 0}
    real_render = demo.render_demo_image

    def crashing_render(*args, **kwargs):
        calls['n'] += 1
        if calls['n'] == 17:
            raise KeyboardInterrupt('simulated crash')  # e.g. Ctrl-C or a killed worker
        return real_render(*args, **kwargs)

    # A hard kill (SIGKILL) would also skip the cleanup: disable it so the half-written temp tree stays on disk.
    monkeypatch.setattr(demo, 'render_demo_image', crashing_render)
    monkeypatch.setattr(demo.shutil, 'rmtree', lambda *a, **k: None)
    with pytest.raises(KeyboardInterrupt):
        generate_demo_dataset(root, seed=0, **SMALL)
    assert not root.exists()
    leftovers = list(tmp_path.glob('.demo.tmp-*'))
    assert len(leftovers) == 1
    assert len(list(leftovers[0].rglob('*.JPEG'))) == 16 and not (leftovers[0] / 'meta.json').exists()

    monkeypatch.undo()
    root_again = generate_demo_dataset(root, seed=0, **SMALL)
    assert len(list(root_again.rglob('*.JPEG'))) == 50
    assert read_demo_meta(root_again)['counts'] == {'train': 30, 'val': 20}
    assert list(tmp_path.glob('.demo.tmp-*')) == []  # the leftover was cleaned
    # And the result is the same bytes as an uninterrupted run.
    assert _hashes(root_again) == _hashes(generate_demo_dataset(tmp_path / 'clean', seed=0, **SMALL))


def test_exception_during_generation_removes_its_temp_tree(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError('disk full')

    monkeypatch.setattr(demo, 'render_demo_image', boom)
    with pytest.raises(RuntimeError, match='disk full'):
        generate_demo_dataset(tmp_path / 'demo', seed=0, **SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['.demo.lock']


def test_existing_tree_is_reused_without_rewriting(tmp_path, monkeypatch):
    root = generate_demo_dataset(tmp_path / 'demo', seed=0, **SMALL)
    before = {p: p.stat().st_mtime_ns for p in root.rglob('*')}

    def fail(*args, **kwargs):
        raise AssertionError('must not render again')

    monkeypatch.setattr(demo, 'render_demo_image', fail)
    assert generate_demo_dataset(str(root), seed=0, **SMALL) == root
    assert {p: p.stat().st_mtime_ns for p in root.rglob('*')} == before


def test_parameter_mismatch_and_foreign_folder_are_reported_with_the_path(tmp_path):
    root = generate_demo_dataset(tmp_path / 'demo', seed=0, **SMALL)
    with pytest.raises(FileExistsError) as err:
        generate_demo_dataset(root, seed=1, **SMALL)
    msg = str(err.value)
    assert str(root) in msg and 'seed: found 0, wanted 1' in msg and 'Delete it or pick another data_root' in msg
    with pytest.raises(FileExistsError, match='image_size: found 32, wanted 48'):
        generate_demo_dataset(root, seed=0, **{**SMALL, 'image_size': 48})

    foreign = tmp_path / 'mine'
    (foreign / 'train').mkdir(parents=True)
    with pytest.raises(FileExistsError) as err:
        generate_demo_dataset(foreign, **SMALL)
    assert str(foreign) in str(err.value) and 'no meta.json' in str(err.value)
    assert sorted(p.name for p in foreign.iterdir()) == ['train']  # untouched

    empty = tmp_path / 'empty'
    empty.mkdir()  # an empty folder (e.g. made by a launcher) is filled, not refused
    assert read_demo_meta(generate_demo_dataset(empty, **SMALL))['counts'] == {'train': 30, 'val': 20}


def test_coverage_of_every_generated_sample_is_in_range(tmp_path):
    lo, hi = COVERAGE_RANGE
    assert (lo, hi) == (0.05, 0.6)
    meta = read_demo_meta(generate_demo_dataset(tmp_path / 'demo', seed=0, **{**SMALL, 'num_classes': 16}))
    covs = [o['coverage'] for split in meta['objects'].values() for o in split.values()]
    assert len(covs) == 16 * 5
    assert all(lo <= c <= hi for c in covs)
    # A wider sweep at the default size, every class: the range holds and scales really vary inside it.
    covs = np.array([render_demo_image(7, 'val', k, i, 64)[1]['coverage'] for k in range(16) for i in range(12)])
    assert covs.min() >= lo and covs.max() <= hi
    assert covs.min() < 0.1 and covs.max() > 0.3


def test_coverage_matches_the_drawn_disc():
    """Independent check for the disc: coverage * S^2 equals pi r^2, r from the object's pixel bounding box."""
    for i in range(8):
        img, info = render_demo_image(0, 'train', SHAPE_NAMES.index('disc'), i, 64)
        x0, y0, x1, y1 = info['bbox']
        assert abs((x1 - x0) - (y1 - y0)) <= 1  # a disc's box is square
        r = (x1 - x0) / 2
        assert info['coverage'] * 64 ** 2 == pytest.approx(math.pi * r ** 2, rel=0.12)
        cx, cy = info['center']
        assert (x0 + x1) / 2 == pytest.approx(cx, abs=0.6) and (y0 + y1) / 2 == pytest.approx(cy, abs=0.6)


def test_object_stands_out_from_the_background_and_colours_vary():
    """The object's mean luma differs from its surroundings (visible silhouette) and its colour varies in a class."""
    means = []
    for i in range(10):
        img, info = render_demo_image(0, 'train', SHAPE_NAMES.index('square'), i, 64)
        x0, y0, x1, y1 = info['bbox']
        luma = img.astype(float) @ [0.299, 0.587, 0.114]
        inside = np.zeros(luma.shape, bool)
        inside[y0:y1, x0:x1] = True
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        centre = luma[max(cy - 1, 0):cy + 2, max(cx - 1, 0):cx + 2].mean()
        assert abs(centre - luma[~inside].mean()) > 20
        means.append(img[max(cy - 1, 0):cy + 2, max(cx - 1, 0):cx + 2].reshape(-1, 3).mean(0))
    assert np.ptp(np.array(means), axis=0).max() > 100  # not one colour per class


def _generate_in_child(root: str, queue) -> None:
    try:
        queue.put(str(generate_demo_dataset(root, seed=5, **SMALL)))
    except BaseException as e:  # pragma: no cover - reported to the parent
        queue.put(repr(e))


def test_concurrent_first_use_generates_once(tmp_path):
    ctx = mp.get_context('fork')
    queue = ctx.Queue()
    root = tmp_path / 'demo'
    procs = [ctx.Process(target=_generate_in_child, args=(str(root), queue)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results == [str(root.absolute())] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ['.demo.lock', 'demo']
    assert len(list(root.rglob('*.JPEG'))) == 50


def test_invalid_arguments():
    with pytest.raises(ValueError, match=r'num_classes must be in \[2, 16\]'):
        demo_class_names(17)
    with pytest.raises(ValueError, match='split must be one of'):
        render_demo_image(0, 'test', 0, 0)


def test_cli_prints_counts(tmp_path, capsys):
    root = tmp_path / 'cli'
    assert demo.main(['--root', str(root), '--num-classes', '10', '--train-per-class', '3', '--val-per-class', '2',
                      '--image-size', '32']) == 0
    out = capsys.readouterr().out
    assert 'train 30 images, val 20 images in 10 classes' in out and str(root) in out
    assert demo.main(['--root', str(root), '--seed', '1', '--train-per-class', '3', '--val-per-class', '2',
                      '--image-size', '32']) == 1
    assert 'seed: found 0, wanted 1' in capsys.readouterr().err


def test_dataset_reads_the_tree_with_labels_from_folders(tmp_path):
    root = tmp_path / 'demo'
    ds = DemoShapes(str(root), split='val', seed=2, **SMALL)
    assert (root / 'meta.json').is_file()
    assert len(ds) == 20
    seen = {}
    for i in range(len(ds)):
        item = ds[i]
        folder = Path(item['img_path']).parent.name
        assert item['gt_label'] == demo_class_names(10).index(folder)
        assert isinstance(item['img'], Image.Image) and item['img'].size == (32, 32)
        seen[folder] = seen.get(folder, 0) + 1
    assert seen == {cls: 2 for cls in demo_class_names(10)}
    # A second dataset (the other split) reuses the tree; a registry build works from a config dict.
    from openmix.registry import DATASETS
    train = DATASETS.build(dict(type='DemoShapes', data_root=str(root), split='train', seed=2, **SMALL))
    assert len(train) == 30
