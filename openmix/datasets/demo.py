"""Built-in demo data: seeded shapes on cluttered backgrounds, written as an ImageNet-style JPEG class-folder tree.

The task imitates the problem mixing methods address: one object per image, of a class defined by its *shape*
(colour and fill texture are random and shared by all classes), at a random position, rotation and scale (it covers
5-60 % of the image), on a low-contrast cluttered background. A random CutMix box can therefore cut the object away
or paste it in, which is what makes area-based labels noisy and attention-based labels (TransMix) useful.

Every image is drawn from its own generator seeded by ``(seed, split, class, index)``, so the tree does not depend
on generation order and the same seed gives byte-identical files. :func:`generate_demo_dataset` builds the tree in a
temporary folder next to ``root`` under a file lock and renames it into place, so concurrent first use by several
ranks is safe and a half-written tree is never used.

Example:
    >>> root = generate_demo_dataset('data/demo_shapes')        # first call writes ~2,500 JPEGs (a few seconds)
    >>> ds = DemoShapes('data/demo_shapes', split='val')         # later calls reuse the tree
    >>> python -m openmix.datasets.demo --root data/demo_shapes  # pre-generate from the shell
"""
from __future__ import annotations

import argparse
import colorsys
import json
import math
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from openmix.datasets.imagenet import ImageNet
from openmix.registry import DATASETS

try:  # POSIX only; without it (Windows) generation is still atomic, just not guarded against concurrent ranks.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

__all__ = [
    'DEMO_VERSION', 'SHAPE_NAMES', 'COVERAGE_RANGE', 'demo_class_names', 'render_demo_image', 'render_demo_sample',
    'generate_demo_dataset', 'read_demo_meta', 'DemoShapes',
]

# Bump whenever the drawing changes, so a tree written by an older version is reported instead of silently reused.
DEMO_VERSION = 1
JPEG_QUALITY = 90
# Bounds on the fraction of the image the object covers (anti-aliased mask area / image area). Targets are drawn
# log-uniformly inside a slightly narrower range so that rasterisation never pushes a sample outside these bounds.
COVERAGE_RANGE = (0.05, 0.6)
_TARGET_COVERAGE = (0.07, 0.5)
_SUPERSAMPLE = 4  # the mask is drawn at 4x and box-filtered down: anti-aliased edges and a sub-pixel coverage value
_SPLIT_CODES = {'train': 0, 'val': 1}


# --------------------------------------------------------------------------------------------------- shapes
# A shape is a list of (polygon, value) operations in unit coordinates (roughly within the unit disc, y up): value 1
# fills the polygon, value 0 carves it out again (ring, crescent). Classes differ by silhouette only.

def _ngon(n: int, r: float = 1.0, phase: float = 90.0, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    t = np.deg2rad(phase + 360.0 * np.arange(n) / n)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def _circle(r: float = 1.0, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    return _ngon(96, r, 0.0, cx, cy)


def _star(points: int = 5, r_out: float = 1.0, r_in: float = 0.42) -> np.ndarray:
    t = np.deg2rad(90.0 + 180.0 * np.arange(2 * points) / points)
    r = np.where(np.arange(2 * points) % 2 == 0, r_out, r_in)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _poly(*pts: tuple[float, float]) -> np.ndarray:
    return np.asarray(pts, dtype=np.float64)


def _heart() -> np.ndarray:
    # The classic parametric heart curve, scaled to about the unit disc.
    t = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    return np.stack([x, y + 2.5], axis=1) / 16.0


_SHAPES: dict[str, list[tuple[np.ndarray, int]]] = {
    'disc': [(_circle(), 1)],
    'square': [(_ngon(4, 1.0, 45.0), 1)],
    'triangle': [(_ngon(3, 1.0, 90.0, 0.0, -0.15), 1)],
    'star': [(_star(), 1)],
    'cross': [(_poly((-0.3, 1), (0.3, 1), (0.3, 0.3), (1, 0.3), (1, -0.3), (0.3, -0.3), (0.3, -1), (-0.3, -1),
                     (-0.3, -0.3), (-1, -0.3), (-1, 0.3), (-0.3, 0.3)), 1)],
    'ring': [(_circle(1.0), 1), (_circle(0.58), 0)],
    # Elongated so that it is not a rotated square.
    'diamond': [(_poly((0, 1), (0.5, 0), (0, -1), (-0.5, 0)), 1)],
    'hexagon': [(_ngon(6, 1.0, 0.0), 1)],
    'crescent': [(_circle(1.0), 1), (_circle(0.85, 0.5, 0.12), 0)],
    'arrow': [(_poly((-1, 0.17), (0.15, 0.17), (0.15, 0.55), (1, 0), (0.15, -0.55), (0.15, -0.17), (-1, -0.17)), 1)],
    # Extra classes for num_classes > 10.
    'heart': [(_heart(), 1)],
    'semicircle': [(np.concatenate([_circle()[:49], [[-1.0, 0.0]]]) - [0.0, 0.4], 1)],
    'tee': [(_poly((-0.9, 0.9), (0.9, 0.9), (0.9, 0.45), (0.22, 0.45), (0.22, -0.9), (-0.22, -0.9), (-0.22, 0.45),
                   (-0.9, 0.45)), 1)],
    'lshape': [(_poly((-0.6, 1), (-0.15, 1), (-0.15, -0.55), (0.7, -0.55), (0.7, -1), (-0.6, -1)), 1)],
    'hourglass': [(_poly((-0.7, 1), (0.7, 1), (0.08, 0), (0.7, -1), (-0.7, -1), (-0.08, 0)), 1)],
    'chevron': [(_poly((-0.8, 0.9), (-0.38, 0.9), (0, 0.05), (0.38, 0.9), (0.8, 0.9), (0, -0.9)), 1)],
}
SHAPE_NAMES: tuple[str, ...] = tuple(_SHAPES)


def demo_class_names(num_classes: int = 10) -> list[str]:
    """Folder names of the first ``num_classes`` shapes, prefixed by their label so folder order is label order."""
    if not 2 <= num_classes <= len(SHAPE_NAMES):
        raise ValueError(f'num_classes must be in [2, {len(SHAPE_NAMES)}] (the number of demo shapes), '
                         f'got {num_classes}')
    return [f'{i:02d}_{name}' for i, name in enumerate(SHAPE_NAMES[:num_classes])]


@lru_cache(maxsize=None)
def _unit_area(name: str) -> float:
    """Area of a shape in unit coordinates, measured by rasterisation (handles the carved-out parts exactly enough)."""
    n = 1024
    mask = Image.new('L', (n, n), 0)
    draw = ImageDraw.Draw(mask)
    for poly, value in _SHAPES[name]:
        pts = (poly * (n / 4.0) + n / 2.0)  # unit coordinates span [-2, 2] in the canvas
        draw.polygon([tuple(p) for p in pts], fill=255 * value)
    return float(np.asarray(mask).astype(bool).sum()) / (n / 4.0) ** 2


# --------------------------------------------------------------------------------------------------- drawing
def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Low-contrast clutter: a gradient, soft blobs, thin lines and sensor noise around a random base colour."""
    base = rng.uniform(40, 215, 3)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy)[..., None] * rng.uniform(-40, 40, 3)
    canvas = Image.fromarray(np.clip(base + ramp, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    # Blobs and lines are drawn with small colour offsets and then blurred, so they never read as a crisp silhouette.
    for _ in range(int(rng.integers(4, 10))):
        cx, cy = rng.uniform(-0.1, 1.1, 2) * size
        rx, ry = rng.uniform(0.05, 0.3, 2) * size
        colour = tuple(int(c) for c in np.clip(base + rng.uniform(-30, 30, 3), 0, 255))
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=colour)
    for _ in range(int(rng.integers(2, 7))):
        x0, y0, x1, y1 = rng.uniform(-0.1, 1.1, 4) * size
        colour = tuple(int(c) for c in np.clip(base + rng.uniform(-35, 35, 3), 0, 255))
        draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(1, max(2, size // 24) + 1)))
    canvas = canvas.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.8, 2.5)) * size / 64))
    return np.asarray(canvas, dtype=np.float64)


def _class_colour(rng: np.random.Generator, label: int, bg_luma: float) -> np.ndarray:
    """The class's hue (``36 * (label % 10)`` degrees +- 6) at a random saturation and brightness whose luma differs
    from the background's by at least 60 (the brightest or darkest such colour if 32 draws miss)."""
    hue = ((label % 10) * 36.0 + rng.uniform(-6, 6)) % 360 / 360.0
    rgb = None
    for _ in range(32):
        rgb = np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.55, 1.0), rng.uniform(0.25, 1.0))) * 255
        if abs(float(_luma(rgb)) - bg_luma) >= 60:
            return rgb
    return np.array(colorsys.hsv_to_rgb(hue, 0.8, 1.0 if bg_luma < 128 else 0.25)) * 255


def _object_colour(rng: np.random.Generator, bg_luma: float) -> np.ndarray:
    """A random colour whose luma differs from the background's by at least 60 (so the silhouette is visible)."""
    for _ in range(32):
        colour = rng.uniform(0, 255, 3)
        if abs(float(_luma(colour)) - bg_luma) >= 60:
            return colour
    return np.full(3, 235.0 if bg_luma < 128 else 20.0)


# Fill patterns, periods in pixels at 64 px (scaled with the image). Class ``k`` wears ``TEXTURES[k % 10]`` with
# probability ``CLASS_TEXTURE_PROB`` and a random one otherwise: texture is a strong but imperfect cue that a small
# ViT picks up within a few epochs (patch embeddings see it directly), while the rest of the accuracy needs the shape.
TEXTURES = ('solid', 'stripes', 'checker', 'dots', 'bands', 'speckle', 'grid', 'concentric', 'fine_checker',
            'radial')
CLASS_TEXTURE_PROB = 0.75


def _texture(rng: np.random.Generator, kind: str, u: np.ndarray, v: np.ndarray, unit: float) -> np.ndarray:
    """Pattern in [-1, 1] over object coordinates ``(u, v)`` in pixels (so it rotates with the object)."""
    u, v = u / unit, v / unit
    if kind == 'solid':  # lit from one side
        return np.clip((u * rng.uniform(-1, 1) + v * rng.uniform(-1, 1)) / 24, -1, 1)
    if kind == 'stripes':
        return np.sign(np.sin(2 * np.pi * u / 4.0))
    if kind == 'checker':
        return np.sign(np.sin(2 * np.pi * u / 8.0) * np.sin(2 * np.pi * v / 8.0))
    if kind == 'dots':
        return np.where(np.cos(2 * np.pi * u / 6.0) * np.cos(2 * np.pi * v / 6.0) > 0.5, 1.0, -1.0)
    if kind == 'bands':
        return np.sign(np.sin(2 * np.pi * v / 10.0))
    if kind == 'speckle':
        return rng.choice([-1.0, 1.0], size=u.shape)
    if kind == 'grid':
        return np.where((np.abs((u % 6.0) - 3) > 2) | (np.abs((v % 6.0) - 3) > 2), 1.0, -1.0)
    if kind == 'concentric':
        return np.sign(np.sin(2 * np.pi * np.hypot(u, v) / 5.0))
    if kind == 'fine_checker':
        return np.sign(np.sin(np.pi * (np.floor(u / 2.0) + np.floor(v / 2.0)) + np.pi / 2))
    return np.clip(1.0 - np.hypot(u, v) / 8.0, -1, 1)  # radial: bright centre, dark rim


def render_demo_image(seed: int, split: str, label: int, index: int, image_size: int = 64,
                      coverage: Sequence[float] | None = None, class_colour_prob: float = 0.0
                      ) -> tuple[np.ndarray, dict]:
    """Draw one demo image (:func:`render_demo_sample` without the object mask; the same pixels and ``info``).

    Args:
        seed: Dataset seed.
        split: ``'train'`` or ``'val'``.
        label: Class index into :data:`SHAPE_NAMES`.
        index: Index of the image within its class and split.
        image_size: Side of the square image in pixels.
        coverage: ``(lo, hi)`` range the object's target coverage is drawn from (log-uniform), inside the default
            ``(0.07, 0.5)``; None: the default (larger objects, e.g. ``(0.15, 0.5)``, make an easier task).
        class_colour_prob: Probability that the object wears its class's hue (``36 * label`` degrees, random
            saturation and brightness) instead of a random colour; 0 (default): colour carries no class information.

    Returns:
        ``(img, info)``: ``img`` is a ``uint8`` array ``(image_size, image_size, 3)``; ``info`` holds ``coverage``
        (anti-aliased object area / image area, in :data:`COVERAGE_RANGE`), ``bbox`` (``[x0, y0, x1, y1]`` of the
        object's pixels, exclusive end), ``angle`` (degrees) and ``center`` (pixels).
    """
    img, info, _ = render_demo_sample(seed, split, label, index, image_size, coverage, class_colour_prob)
    return img, info


def render_demo_sample(seed: int, split: str, label: int, index: int, image_size: int = 64,
                       coverage: Sequence[float] | None = None, class_colour_prob: float = 0.0
                       ) -> tuple[np.ndarray, dict, np.ndarray]:
    """Draw one demo image and return the object's pixel mask with it.

    The image and ``info`` are those of :func:`render_demo_image` (same generator, same draws); the mask is the
    anti-aliased coverage the image was composited with (``img = bg * (1 - mask) + fill * mask`` before noise and
    rounding), so the object's visible share after mixing can be measured exactly
    (``benchmarks/label_fidelity.py``).

    Returns:
        ``(img, info, mask)``: ``img`` and ``info`` as :func:`render_demo_image`; ``mask`` is a ``float32`` array
        ``(image_size, image_size)`` in [0, 1] whose mean is ``info['coverage']`` (before rounding).
    """
    if split not in _SPLIT_CODES:
        raise ValueError(f"split must be one of {sorted(_SPLIT_CODES)}, got {split!r}")
    name = SHAPE_NAMES[label]
    rng = np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_CODES[split], label, index]))
    size = image_size
    bg = _background(rng, size)

    # Pose: rotation first, then the largest scale that keeps the rotated shape inside the image caps the coverage.
    angle = float(rng.uniform(0, 360))
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    rot = np.array([[c, -s], [s, c]])
    pts = np.concatenate([p for p, v in _SHAPES[name] if v]) @ rot.T
    extent = pts.max(0) - pts.min(0)
    margin = 1.0
    max_scale = (size - 2 * margin) / extent.max()
    area = _unit_area(name)
    lo, hi = _check_coverage(coverage)
    hi = min(hi, area * max_scale ** 2 / size ** 2)
    coverage_target = math.exp(rng.uniform(math.log(lo), math.log(max(hi, lo))))
    scale = math.sqrt(coverage_target * size ** 2 / area)
    lo_xy = margin - pts.min(0) * scale
    hi_xy = size - margin - pts.max(0) * scale
    center = lo_xy + rng.uniform(0, 1, 2) * np.maximum(hi_xy - lo_xy, 0)

    # Anti-aliased mask: draw at _SUPERSAMPLE x and box-filter down. Image y grows downwards, unit y grows upwards.
    k = _SUPERSAMPLE
    mask = Image.new('L', (size * k, size * k), 0)
    draw = ImageDraw.Draw(mask)
    for poly, value in _SHAPES[name]:
        xy = (poly @ rot.T) * [scale, -scale] + center
        draw.polygon([tuple(p) for p in xy * k], fill=255 * value)
    alpha = np.asarray(mask, dtype=np.float64).reshape(size, k, size, k).mean(axis=(1, 3)) / 255.0

    # Fill: random colour far enough from the local background, times a random texture in object coordinates.
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    rel = np.stack([(xx - center[0]) / scale, (center[1] - yy) / scale], axis=-1) @ rot  # back to unit coordinates
    region = alpha > 0.5
    bg_luma = float(_luma(bg[region]).mean()) if region.any() else float(_luma(bg).mean())
    colour = _object_colour(rng, bg_luma)
    if class_colour_prob > 0 and rng.uniform() < class_colour_prob:  # no extra draw at the default 0
        colour = _class_colour(rng, label, bg_luma)
    own = rng.uniform() < CLASS_TEXTURE_PROB
    kind = TEXTURES[label % len(TEXTURES)] if own else TEXTURES[int(rng.integers(len(TEXTURES)))]
    unit = size / 64
    pattern = _texture(rng, kind, rel[..., 0] * scale, rel[..., 1] * scale, unit)
    fill = colour + (rng.uniform(35, 60) * pattern)[..., None]
    img = bg * (1 - alpha[..., None]) + fill * alpha[..., None]
    img += rng.normal(0, rng.uniform(2, 8), img.shape)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)

    ys, xs = np.nonzero(region)
    bbox = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else [0, 0, 0, 0]
    info = dict(coverage=round(float(alpha.sum()) / size ** 2, 5), bbox=bbox, angle=round(angle, 3),
                center=[round(float(x), 3) for x in center])
    return img, info, alpha.astype(np.float32)


# --------------------------------------------------------------------------------------------------- the tree
def _check_coverage(coverage: Sequence[float] | None) -> tuple[float, float]:
    """The target coverage range: the default, or a narrower ``(lo, hi)`` inside it (so COVERAGE_RANGE holds)."""
    if coverage is None:
        return _TARGET_COVERAGE
    lo, hi = (float(c) for c in coverage)
    if not _TARGET_COVERAGE[0] <= lo <= hi <= _TARGET_COVERAGE[1]:
        raise ValueError(f'coverage must be (lo, hi) with {_TARGET_COVERAGE[0]} <= lo <= hi <= '
                         f'{_TARGET_COVERAGE[1]}, got {tuple(coverage)}')
    return lo, hi


def _params(num_classes: int, train_per_class: int, val_per_class: int, image_size: int, seed: int,
            coverage: Sequence[float] | None = None, class_colour_prob: float = 0.0) -> dict:
    params = dict(version=DEMO_VERSION, num_classes=int(num_classes), train_per_class=int(train_per_class),
                  val_per_class=int(val_per_class), image_size=int(image_size), seed=int(seed))
    if coverage is not None:  # only when set, so trees written with the default keep matching
        params['coverage'] = list(_check_coverage(coverage))
    if class_colour_prob:
        if not 0.0 <= class_colour_prob <= 1.0:
            raise ValueError(f'class_colour_prob must be in [0, 1], got {class_colour_prob}')
        params['class_colour_prob'] = float(class_colour_prob)
    return params


def read_demo_meta(root: str | os.PathLike) -> dict:
    """The ``meta.json`` of a generated tree: ``params``, ``classes``, ``counts`` and per-image ``objects``
    (``objects[split][relative path] = dict(coverage, bbox, angle, center)``)."""
    with open(Path(root) / 'meta.json', encoding='utf-8') as f:
        return json.load(f)


def _check_existing(root: Path, params: dict) -> bool:
    """True if ``root`` holds a complete tree with ``params``; False if it is absent (or an empty folder).

    Raises:
        FileExistsError: ``root`` exists but is not a demo tree with these parameters.
    """
    if not root.exists():
        return False
    if root.is_dir() and not any(root.iterdir()):
        return False
    advice = 'Delete it or pick another data_root.'
    if not (root / 'meta.json').is_file():
        raise FileExistsError(f'{root} exists but has no meta.json, so it is not a complete openmix demo dataset. '
                              f'{advice}')
    try:
        found = read_demo_meta(root).get('params', {})
    except (OSError, ValueError) as e:
        raise FileExistsError(f'{root}/meta.json cannot be read ({e}). {advice}') from e
    if found != params:
        diff = ', '.join(f'{k}: found {found.get(k)!r}, wanted {v!r}' for k, v in params.items() if found.get(k) != v)
        raise FileExistsError(f'{root} holds an openmix demo dataset generated with other parameters ({diff}). '
                              f'{advice}')
    return True


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (blocking): one process generates, the others wait."""
    with open(lock_path, 'a+') as f:
        if fcntl is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _write_tree(tmp: Path, params: dict) -> dict:
    """Write every split into ``tmp``; returns the per-image object records for meta.json."""
    classes = demo_class_names(params['num_classes'])
    objects: dict[str, dict[str, dict]] = {}
    for split in ('train', 'val'):
        objects[split] = {}
        for label, cls in enumerate(classes):
            folder = tmp / split / cls
            folder.mkdir(parents=True)
            for i in range(params[f'{split}_per_class']):
                img, info = render_demo_image(params['seed'], split, label, i, params['image_size'],
                                              params.get('coverage'), params.get('class_colour_prob', 0.0))
                # Fixed encoder settings and no metadata: same pixels -> same bytes.
                Image.fromarray(img).save(folder / f'{i:05d}.JPEG', format='JPEG', quality=JPEG_QUALITY,
                                          subsampling=0, optimize=False)
                objects[split][f'{cls}/{i:05d}.JPEG'] = info
    return objects


def generate_demo_dataset(root: str | os.PathLike, num_classes: int = 10, train_per_class: int = 200,
                          val_per_class: int = 50, image_size: int = 64, seed: int = 0,
                          coverage: Sequence[float] | None = None, class_colour_prob: float = 0.0) -> Path:
    """Write (once) the demo dataset as ``<root>/{train,val}/<NN_shape>/<idx>.JPEG`` plus ``<root>/meta.json``.

    The tree is built in a temporary folder beside ``root`` (same filesystem) while holding an exclusive lock on
    ``<parent>/.<name>.lock``, and renamed to ``root`` only when complete (meta.json is written last), so processes
    starting together (torchrun ranks) generate it once and a crash never leaves a tree that looks complete.
    Temporary folders left by a crashed run are removed by the next run.

    Args:
        root: Destination folder.
        num_classes: Number of shape classes (at most ``len(SHAPE_NAMES)``).
        train_per_class: Training images per class.
        val_per_class: Validation images per class.
        image_size: Side of the square images in pixels.
        seed: Seed; the same seed gives byte-identical files.
        coverage: Target object coverage range (see :func:`render_demo_image`); None: the default.
        class_colour_prob: Probability of the class hue (see :func:`render_demo_image`); 0: none.

    Returns:
        The path of the complete tree.

    Raises:
        FileExistsError: ``root`` exists but is not a demo tree with these parameters (delete it or choose another).
    """
    root = Path(root).expanduser().absolute()
    params = _params(num_classes, train_per_class, val_per_class, image_size, seed, coverage, class_colour_prob)
    demo_class_names(num_classes)  # validate before touching the disk
    if image_size < 16:
        raise ValueError(f'image_size must be >= 16, got {image_size}')
    if _check_existing(root, params):  # fast path: no lock once the tree exists
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with _locked(root.parent / f'.{root.name}.lock'):
        if _check_existing(root, params):  # another process finished while we waited
            return root
        # Under the lock no one else is generating, so any temporary folder is a crashed run's leftover.
        for stale in root.parent.glob(f'.{root.name}.tmp-*'):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f'.{root.name}.tmp-', dir=root.parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private (0700); the final tree gets ordinary permissions
        try:
            objects = _write_tree(tmp, params)
            classes = demo_class_names(num_classes)
            meta = dict(name='openmix-demo-shapes', version=DEMO_VERSION, params=params, classes=classes,
                        jpeg_quality=JPEG_QUALITY, coverage_range=list(COVERAGE_RANGE),
                        counts={split: len(objects[split]) for split in objects}, objects=objects)
            with open(tmp / 'meta.json', 'w', encoding='utf-8') as f:
                json.dump(meta, f, indent=1)
            if root.exists():  # an empty folder (checked above): rename cannot replace it on every platform
                root.rmdir()
            os.replace(tmp, root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return root


# --------------------------------------------------------------------------------------------------- dataset
class DemoShapes(ImageNet):
    """The built-in demo dataset: :func:`generate_demo_dataset` on first use, then read like ImageNet class folders.

    Labels follow the folder names ``00_disc, 01_square, ...`` (label = shape index in :data:`SHAPE_NAMES`).

    Args:
        data_root: Where the tree lives (generated there if absent).
        split: ``'train'`` or ``'val'``.
        pipeline: Transforms applied to each ``dict(img, img_path, gt_label)``.
        num_classes, train_per_class, val_per_class, image_size, seed, coverage, class_colour_prob: Generation
            parameters; a tree at
            ``data_root`` generated with other parameters raises ``FileExistsError``.
        **kwargs: Passed to :class:`openmix.datasets.imagenet.ImageNet`.
    """

    def __init__(self, data_root: str = 'data/demo_shapes', split: str = 'train', pipeline: Sequence = (),
                 num_classes: int = 10, train_per_class: int = 200, val_per_class: int = 50, image_size: int = 64,
                 seed: int = 0, coverage: Sequence[float] | None = None, class_colour_prob: float = 0.0,
                 **kwargs) -> None:
        generate_demo_dataset(data_root, num_classes=num_classes, train_per_class=train_per_class,
                              val_per_class=val_per_class, image_size=image_size, seed=seed, coverage=coverage,
                              class_colour_prob=class_colour_prob)
        super().__init__(data_root, split=split, pipeline=pipeline, **kwargs)


# Running this file as `python -m openmix.datasets.demo` executes it a second time as __main__ after the package
# import registered it; force=True there only avoids the duplicate-name error for the CLI.
DATASETS.register_module(module=DemoShapes, force=__name__ == '__main__')


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: pre-generate the demo tree and print its counts."""
    parser = argparse.ArgumentParser(description='Generate the openmix demo dataset (shapes on clutter).')
    parser.add_argument('--root', default='data/demo_shapes')
    parser.add_argument('--num-classes', type=int, default=10)
    parser.add_argument('--train-per-class', type=int, default=200)
    parser.add_argument('--val-per-class', type=int, default=50)
    parser.add_argument('--image-size', type=int, default=64)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--class-colour-prob', type=float, default=0.0,
                        help='probability of the class hue (configs/demo.py: 1, with --root data/demo_shapes_hue)')
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        root = generate_demo_dataset(args.root, args.num_classes, args.train_per_class, args.val_per_class,
                                     args.image_size, args.seed, class_colour_prob=args.class_colour_prob)
    except (FileExistsError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    meta = read_demo_meta(root)
    cov = [o['coverage'] for split in meta['objects'].values() for o in split.values()]
    print(f'{root}: ' + ', '.join(f'{split} {n} images' for split, n in meta['counts'].items())
          + f" in {len(meta['classes'])} classes ({', '.join(meta['classes'])}); "
          f'object coverage {min(cov):.3f}-{max(cov):.3f}; ready in {time.perf_counter() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
