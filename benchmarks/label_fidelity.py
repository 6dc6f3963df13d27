"""Label fidelity: does the label of a mixed image say how much of each object is still visible?

    python benchmarks/label_fidelity.py work_dirs/demo/epoch_*.pth [--config configs/demo.py] [--out DIR]
    python benchmarks/label_fidelity.py init work_dirs/demo/epoch_30.pth    # 'init': the config's untrained model

The built-in demo data (:mod:`openmix.datasets.demo`) draws one object per image and knows its pixel mask
(:func:`~openmix.datasets.demo.render_demo_sample`), so after mixing the right answer is known. Held-out images
(split ``'val'``, indices from :data:`HELD_OUT_START` on: in no generated tree) are mixed in batches whose flip
partners always have different classes, by every input mixer in ``openmix.registry.MIXERS`` that builds with default
arguments (plus MixToken's token-aligned box), and every label rule gives its label for the same mixed batch.

Ground truth, per mixed sample ``i`` with partner ``j`` (classes ``a != b``), object masks ``alpha`` (anti-aliased
coverage in [0, 1]) and the mixer's per-pixel partner weight ``m`` (its mask, its box, or ``1 - lam`` for Mixup)::

    v_a = sum(alpha_i * (1 - m)) / sum(alpha_i)                       visible share of object a
    v_b = sum(P(alpha_j) * m) / (sum(alpha_j) * s_j)                  visible share of object b
    t_a = v_a / (v_a + v_b),  t_b = 1 - t_a                           the label the visible pixels call for

``P`` is what the mixer does to the partner before pasting it (identity; ResizeMix: the whole partner resized into
its box, so ``s_j`` = box area / image area, the object's scale; 1 otherwise). Shares are clipped to [0, 1]. Samples
where both objects are gone (``v_a = v_b = 0``) have no ``t`` and are left out of error and correlation.

Metrics per (checkpoint, mixer, rule), with ``y_a, y_b`` the rule's weights of classes ``a`` and ``b`` on exact
one-hot targets (no smoothing):

* ``mae``: mean of ``(|y_a - t_a| + |y_b - t_b|) / 2`` (= ``|y_a - t_a|`` when the rule's two weights sum to 1);
* ``pearson``: correlation of ``y_a`` with ``t_a`` over the samples (nan when either is constant);
* ``cut_rate``: over every (sample, class) whose object is entirely cut away (``v <= CUT_AWAY = 1e-6``, i.e. not
  one visible pixel), the share where the rule still gives that class weight ``> WEIGHT_THRESHOLD = 0.01``;
  ``cut_events`` is their number.

Rules: every ``MODELS`` class defined under ``openmix/models/label_rules/`` (all its modules are imported, so rules
added later are found), built with default arguments and attached to the checkpoint's backbone, plus two adapters of
rules that live inside their own classifiers: ``MixToken`` (Token Labeling's class target: ``1 -`` the partner's share
of the token grid, each token sampled at its top-left pixel as the token mask is) and ``AutoMix`` (the lam the mixer
drew, which AutoMix uses whatever its mask's mean; for the built-in mixers it equals the area). A rule or mixer that
cannot be built or applied is skipped with the reason printed. A rule whose labels equal ``AreaLabel``'s on every
sample of a mixer is marked ``= area`` (e.g. a rule that needs a teacher it was not given).

Rules are built with default arguments except ``num_classes`` (the model's, where a rule requires it) and are
called with the forward pass's ``logits`` where their ``forward`` takes them. Guided mixers (``guided = True``) are
attached to a copy of the checkpoint's model and called with the targets. Any mixer whose mixed images are not
``(1 - m) x + m P(x[index])`` for the mask or box it reports is skipped (checked on every batch, so the ground truth is
never computed from a wrong mask): ManifoldMix (it mixes hidden features), and whatever keeps no pixel mask.

Writes ``label_fidelity.json``, ``label_fidelity.md`` and (with matplotlib, ``pip install openmix[plot]``)
``label_fidelity.png`` (MAE against epoch, one line per rule) to ``--out``. The summary over epochs uses the mixers
that have results at every checkpoint (sample-weighted MAE, cut-away hits over events): a guided mixer may pass the
mask check early in training and fail it later (PuzzleMix starts moving blocks once its saliency means something).
Results are cached per checkpoint file in ``<out>/cache`` (``--no-cache`` recomputes).
"""
from __future__ import annotations

import argparse
import importlib
import io
import json
import math
import pkgutil
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CUT_AWAY = 1e-6  # a visible share at or below this: the object is entirely cut away (no visible pixel)
WEIGHT_THRESHOLD = 0.01  # a label weight above this counts as "the label still names the class"
HELD_OUT_START = 100_000  # held-out images: indices no generated demo tree reaches
RECON_TOL = 1e-3  # max |mixed - (1 - m) x - m P(x_j)| (normalised units) for the reported mask to be trusted


# --------------------------------------------------------------------------------------------------- metrics
def box_weight(box: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """``(B, 1, H, W)`` float partner weight of boxes ``(B, 4)`` ``(y_lo, y_hi, x_lo, x_hi)``."""
    ys = torch.arange(hw[0], device=box.device)
    xs = torch.arange(hw[1], device=box.device)
    in_y = (ys[None] >= box[:, :1]) & (ys[None] < box[:, 1:2])
    in_x = (xs[None] >= box[:, 2:3]) & (xs[None] < box[:, 3:4])
    return (in_y[:, :, None] & in_x[:, None, :]).float()[:, None]


def visible_shares(obj_a: torch.Tensor, obj_b_pasted: torch.Tensor, weight: torch.Tensor,
                   total_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Visible shares ``(v_a, v_b)``, each ``(B,)`` in [0, 1].

    Args:
        obj_a: ``(B, H, W)`` object mask of each sample.
        obj_b_pasted: ``(B, H, W)`` partner's object mask as the mixer places it (``P(alpha_j)``).
        weight: ``(B, 1, H, W)`` or ``(B, 1, 1, 1)`` partner weight ``m``.
        total_b: ``(B,)`` the partner object's full mass at its pasted scale (``sum(alpha_j) * s_j``).
    """
    w = weight[:, 0].float().expand_as(obj_a)
    v_a = (obj_a * (1 - w)).sum((1, 2)) / obj_a.sum((1, 2)).clamp_min(1e-12)
    v_b = (obj_b_pasted * w).sum((1, 2)) / total_b.clamp_min(1e-12)
    return v_a.clamp(0, 1), v_b.clamp(0, 1)


def true_share(v_a: torch.Tensor, v_b: torch.Tensor) -> torch.Tensor:
    """``t_a = v_a / (v_a + v_b)``; nan where both objects are gone."""
    total = v_a + v_b
    return torch.where(total > 0, v_a / total.clamp_min(1e-12), torch.full_like(total, float('nan')))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; nan for fewer than 2 points or a constant input."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.size < 2:
        return float('nan')
    x, y = x - x.mean(), y - y.mean()
    den = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    return float((x * y).sum() / den) if den > 1e-12 else float('nan')


def fidelity_metrics(y_a, y_b, v_a, v_b, threshold: float = WEIGHT_THRESHOLD, cut: float = CUT_AWAY) -> dict:
    """MAE, Pearson r and cut-away rate of assigned weights ``y_a, y_b`` against visible shares ``v_a, v_b``.

    All inputs are 1-D arrays over samples. See the module docstring for the definitions.
    """
    y_a, y_b, v_a, v_b = (np.asarray(t, np.float64).reshape(-1) for t in (y_a, y_b, v_a, v_b))
    total = v_a + v_b
    valid = total > 0
    t_a = np.where(valid, v_a / np.where(valid, total, 1.0), np.nan)
    err = 0.5 * (np.abs(y_a - t_a) + np.abs(y_b - (1 - t_a)))
    gone_a, gone_b = v_a <= cut, v_b <= cut
    events = int(gone_a.sum() + gone_b.sum())
    hits = int((gone_a & (y_a > threshold)).sum() + (gone_b & (y_b > threshold)).sum())
    return dict(n=int(valid.sum()), n_undefined=int((~valid).sum()),
                mae=float(err[valid].mean()) if valid.any() else float('nan'),
                pearson=pearson(y_a[valid], t_a[valid]), cut_events=events,
                cut_rate=hits / events if events else float('nan'), cut_hits=hits)


# --------------------------------------------------------------------------------------------------- data
def demo_params(cfg) -> dict:
    """Generation parameters of the config's demo dataset (``DemoShapes`` in ``train_dataloader``)."""
    ds = cfg.get('train_dataloader', {}).get('dataset', {})
    if ds.get('type') != 'DemoShapes':
        raise ValueError(f"label fidelity needs a config trained on the built-in demo data "
                         f"(train_dataloader.dataset.type='DemoShapes'), got {ds.get('type')!r}")
    params = dict(num_classes=int(ds.get('num_classes', 10)), image_size=int(ds.get('image_size', 64)),
                  seed=int(ds.get('seed', 0)))
    # drawing options of newer demo trees (object coverage range, class hues): passed on only when the config sets them
    params.update({k: ds[k] for k in ('coverage', 'class_colour_prob') if ds.get(k) is not None})
    return params


def held_out_batches(num_batches: int, batch_size: int, num_classes: int, image_size: int, seed: int,
                     pick_seed: int = 0, **draw) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``[(images uint8 (B, 3, H, W), labels (B,), object masks (B, H, W))]``; flip partners have other classes.

    Images go through the tree's JPEG encoding (same settings) so the model sees what it was trained on; the masks
    are the exact drawing masks. ``draw``: further :func:`~openmix.datasets.demo.render_demo_sample` options.
    """
    from PIL import Image

    from openmix.datasets.demo import JPEG_QUALITY, render_demo_sample
    if batch_size < 2 or batch_size % 2:
        raise ValueError(f'--batch-size must be even and >= 2, got {batch_size}')
    rng = np.random.default_rng(pick_seed)
    count = [0] * num_classes
    out = []
    for _ in range(num_batches):
        labels = np.zeros(batch_size, dtype=np.int64)
        for p in range(batch_size // 2):
            a = int(rng.integers(num_classes))
            labels[p], labels[batch_size - 1 - p] = a, (a + 1 + int(rng.integers(num_classes - 1))) % num_classes
        imgs, masks = [], []
        for c in labels:
            img, _, alpha = render_demo_sample(seed, 'val', int(c), HELD_OUT_START + count[c], image_size, **draw)
            count[c] += 1
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format='JPEG', quality=JPEG_QUALITY, subsampling=0, optimize=False)
            imgs.append(np.asarray(Image.open(buf).convert('RGB')))
            masks.append(alpha)
        out.append((torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels),
                    torch.from_numpy(np.stack(masks))))
    return out


# --------------------------------------------------------------------------------------------------- model
def load_model(cfg, checkpoint: str, ema: bool = False) -> tuple[nn.Module, int | None]:
    """The config's model with the checkpoint's weights (``'init'``: as initialised), in eval mode; and its epoch."""
    from openmix.registry import MODELS
    from openmix.utils.checkpoint import allow_mmengine_checkpoint_globals, load_checkpoint_file
    from openmix.utils.weights import load_model_weights
    allow_mmengine_checkpoint_globals()  # runner checkpoints carry mmengine's message hub (weights-only load stays on)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    epoch = None
    if checkpoint == 'init':  # timm initialises the modules when they are built (seeded above)
        epoch = 0
    else:
        load_model_weights(model, checkpoint, ema=ema)
        meta = load_checkpoint_file(checkpoint).get('meta') or {}
        epoch = meta.get('epoch')
        if epoch is None:
            found = re.search(r'epoch_(\d+)', Path(checkpoint).name)
            epoch = int(found.group(1)) if found else None
    return model.eval(), epoch


def token_grid(model: nn.Module, hw: tuple[int, int]) -> tuple[int, int] | None:
    """The patch grid of a ViT-style backbone when the image is a whole number of patches, else None."""
    vit = getattr(model.backbone, 'model', model.backbone)
    grid = getattr(getattr(vit, 'patch_embed', None), 'grid_size', None)
    if grid is None:
        return None
    grid = (int(grid[0]), int(grid[1]))
    return grid if hw[0] % grid[0] == 0 and hw[1] % grid[1] == 0 else None


# --------------------------------------------------------------------------------------------------- mixers
@dataclass
class Mixed:
    """A mixed batch with what the ground truth needs."""

    batch: object  # MixedBatch
    weight: torch.Tensor  # (B, 1, H, W) partner weight
    drawn_lam: torch.Tensor  # (B,) lam as the mixer drew it (AutoMix's label)
    resize_box: tuple[int, int, int, int] | None = None  # ResizeMix: the partner is resized into this box


class MixTokenMixer(nn.Module):
    """MixToken (Token Labeling, Jiang et al., NeurIPS 2021, Eq. 6) as pixel mixing: the box is drawn on the token
    grid by :func:`openmix.token_labeling.mixtoken_box` and pasted as whole patches (for a non-overlapping patch
    embedding the same tokens as mixing after the patch embedding)."""

    name = 'mixtoken'

    def __init__(self, grid: tuple[int, int], seed: int = 0) -> None:
        super().__init__()
        self.grid = grid
        self.rng = np.random.default_rng(seed)

    def forward(self, x: torch.Tensor):
        from openmix.mixers.base import MixedBatch
        from openmix.token_labeling import mixtoken_box
        (y0, y1, x0, x1), lam = mixtoken_box(self.rng, self.grid)
        ph, pw = x.shape[-2] // self.grid[0], x.shape[-1] // self.grid[1]
        b = x.shape[0]
        box = torch.tensor([y0 * ph, y1 * ph, x0 * pw, x1 * pw], device=x.device).expand(b, 4)
        index = torch.arange(b - 1, -1, -1, device=x.device)
        mixed = torch.where(box_weight(box, x.shape[-2:]) > 0, x[index], x)
        return MixedBatch(mixed, index, torch.full((b,), lam, device=x.device), self.name, box=box,
                          is_box=torch.ones(b, dtype=torch.bool, device=x.device))


def discover_mixers(model: nn.Module, hw: tuple[int, int], seed: int = 0, only: list[str] | None = None
                    ) -> tuple[list, list]:
    """``([(name, mixer)], [(name, reason skipped)])``: every registered mixer built with default arguments (``seed``
    fixed so every checkpoint sees the same mixes; ``grid_size`` set to the model's token grid where accepted).

    Guided mixers (``guided = True``) are attached to a copy of ``model``, so their hooks never touch the forward
    passes the label rules read; the mixed batch must still explain itself by a pixel mask (checked in :func:`mix`).
    """
    import copy
    import inspect

    import openmix.mixers  # noqa: F401  (fills the registry)
    from openmix.registry import MIXERS
    grid = token_grid(model, hw)
    built, skipped = [], []
    for name in sorted(MIXERS.module_dict):
        if only is not None and name not in only:
            continue
        cls = MIXERS.module_dict[name]
        params = inspect.signature(cls.__init__).parameters
        kwargs = {}
        if 'seed' in params:
            kwargs['seed'] = seed
        if 'grid_size' in params and grid is not None:
            kwargs['grid_size'] = grid
        try:
            mixer = MIXERS.build(dict(type=name, **kwargs))
            if getattr(mixer, 'guided', False):  # its own copy, kept alive here (mixers hold a weak reference)
                guide = copy.deepcopy(model)
                mixer.attach(guide)
                object.__setattr__(mixer, '_label_fidelity_guide', guide)
        except Exception as e:  # noqa: BLE001 - any failure means "not buildable with default args"
            skipped.append((name, f'cannot be built with default arguments: {type(e).__name__}: {e}'))
            continue
        built.append((name, mixer.eval()))
    if only is not None and 'MixToken' not in only:
        pass
    elif grid is not None:
        built.append(('MixToken', MixTokenMixer(grid, seed)))
    else:
        skipped.append(('MixToken', 'the model has no patch grid dividing the image'))
    return built, skipped


def mix(mixer: nn.Module, x: torch.Tensor, targets: torch.Tensor | None = None) -> Mixed:
    """Mix ``x`` and recover the per-pixel partner weight.

    A ``BaseMixer`` with the standard ``forward`` is driven through ``draw`` + ``mix_whole_batch`` so that its
    ``partner_weight`` can be read for the same draw when the ``MixedBatch`` keeps no mask (Mixup, FMix, GridMix,
    SmoothMix); other mixers are called (guided ones with ``targets``, gradients on) and must report a mask or a box.
    """
    from openmix.mixers.base import BaseMixer
    from openmix.mixers.resizemix import ResizeMix
    b, hw = x.shape[0], tuple(x.shape[-2:])
    params = None
    if isinstance(mixer, BaseMixer) and type(mixer).forward is BaseMixer.forward:
        params = mixer.draw(mixer.rng, 1, hw)
        out = mixer.mix_whole_batch(x.clone(), params)
    elif getattr(mixer, 'guided', False):
        with torch.enable_grad():
            out = mixer(x.clone(), targets)
    else:
        out = mixer(x.clone())
    if out.mask is not None:
        weight = out.mask.float()
    elif out.box is not None:
        weight = box_weight(out.box, hw)
    elif params is not None and out.mode != 'none':
        try:
            weight = mixer.partner_weight(params, x).float()
        except NotImplementedError:
            weight = (1 - out.lam.float()).view(b, 1, 1, 1)
    else:
        weight = (1 - out.lam.float()).view(b, 1, 1, 1)
    if weight.shape[0] != b:
        weight = weight.expand(b, *weight.shape[1:])
    if out.mode == 'none':
        weight = torch.zeros(b, 1, 1, 1, device=x.device)
    drawn = torch.full((b,), float(params.lam[0]), device=x.device) if params is not None else out.lam.float()
    if out.mode == 'none':
        drawn = torch.ones(b, device=x.device)
    resize_box = None
    if isinstance(mixer, ResizeMix) and out.box is not None:
        resize_box = tuple(int(v) for v in out.box[0])
    return Mixed(out, weight, drawn, resize_box)


def pasted_partner(mixed: Mixed, obj: torch.Tensor, interpolation: str = 'nearest'
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(P(alpha_j) (B, H, W), total_b (B,))``: the partner's object as the mixer places it and its full mass."""
    index = mixed.batch.index
    partner = obj[index]
    if mixed.resize_box is None:
        return partner, partner.sum((1, 2))
    y0, y1, x0, x1 = mixed.resize_box
    h, w = obj.shape[-2:]
    pasted = torch.zeros_like(partner)
    if y1 > y0 and x1 > x0:
        pasted[:, y0:y1, x0:x1] = F.interpolate(partner[:, None], size=(y1 - y0, x1 - x0), mode=interpolation)[:, 0]
    return pasted, partner.sum((1, 2)) * ((y1 - y0) * (x1 - x0) / (h * w))


def reconstruction_error(mixed: Mixed, x: torch.Tensor, interpolation: str = 'nearest') -> float:
    """max |mixed - ((1 - m) x + m P(x_j))|: 0 when the weight (and partner transform) explain the mixed images."""
    partner = x[mixed.batch.index]
    if mixed.resize_box is not None:
        y0, y1, x0, x1 = mixed.resize_box
        placed = partner.clone()
        if y1 > y0 and x1 > x0:
            placed[:, :, y0:y1, x0:x1] = F.interpolate(partner, size=(y1 - y0, x1 - x0), mode=interpolation)
        partner = placed
    recon = x * (1 - mixed.weight) + partner * mixed.weight
    return float((recon - mixed.batch.inputs.float()).abs().max())


# --------------------------------------------------------------------------------------------------- rules
class MixTokenLabel(nn.Module):
    """MixToken's class target (Token Labeling, Jiang et al., NeurIPS 2021, Sec. 3.3): ``lam = 1 -`` the partner's
    share of the token grid, each token taking the partner weight at its top-left pixel (the token mask
    :func:`openmix.token_labeling.box_tokens` gives for a token-aligned box)."""

    def __init__(self, grid: tuple[int, int]) -> None:
        super().__init__()
        self.grid = grid
        self.weight = None

    def attach(self, backbone: nn.Module) -> None:
        pass

    def prepare(self, mixed) -> None:
        pass

    def forward(self, targets: torch.Tensor, mixed) -> torch.Tensor:
        from openmix.mixers.geometry import mix_target
        w = self.weight  # set by the benchmark: the recovered partner weight
        h, wd = w.shape[-2:]
        if h == 1 and wd == 1:
            share = w.flatten()
        else:
            ys = (torch.arange(self.grid[0], device=w.device) * h) // self.grid[0]
            xs = (torch.arange(self.grid[1], device=w.device) * wd) // self.grid[1]
            share = w[:, 0][:, ys][:, :, xs].flatten(1).mean(1)
        return mix_target(targets, mixed.index, (1 - share).to(targets.dtype))


class AutoMixLabel(nn.Module):
    """AutoMix's label (Liu et al., ECCV 2022, Sec. 3.3 / ``AutoMixClassifier``): the lam that was drawn,
    ``lam * y_a + (1 - lam) * y_b``, whatever the mask's mean."""

    def __init__(self) -> None:
        super().__init__()
        self.drawn = None

    def attach(self, backbone: nn.Module) -> None:
        pass

    def prepare(self, mixed) -> None:
        pass

    def forward(self, targets: torch.Tensor, mixed) -> torch.Tensor:
        from openmix.mixers.geometry import mix_target
        return mix_target(targets, mixed.index, self.drawn.to(targets.dtype))


def discover_rule_names() -> tuple[list[str], list[tuple[str, str]]]:
    """Registered label rules defined under ``openmix.models.label_rules`` (every module imported), AreaLabel first."""
    import openmix.models.label_rules as pkg
    from openmix.registry import MODELS
    skipped = []
    for info in pkgutil.iter_modules(pkg.__path__):
        try:
            importlib.import_module(f'{pkg.__name__}.{info.name}')
        except Exception as e:  # noqa: BLE001 - a rule being written by someone else must not stop the benchmark
            skipped.append((info.name, f'module does not import: {type(e).__name__}: {e}'))
    names = sorted(n for n, c in MODELS.module_dict.items()  # rules, not classifiers that live beside them
                   if getattr(c, '__module__', '').startswith(pkg.__name__ + '.')
                   and all(callable(getattr(c, k, None)) for k in ('attach', 'prepare', 'forward')))
    names.sort(key=lambda n: (n != 'AreaLabel', n != 'TransMixLabel', n))
    return names, skipped


def build_rules(model: nn.Module, names: list[str], grid: tuple[int, int] | None) -> tuple[list, list]:
    """``([(name, rule)], [(name, reason)])``: each rule built with default arguments and attached to the backbone."""
    import inspect

    from openmix.registry import MODELS
    rules, skipped = [], []
    for name in names:
        try:
            kwargs = {}  # what the model alone decides (the class count) is filled in; everything else is default
            num_classes = inspect.signature(MODELS.module_dict[name].__init__).parameters.get('num_classes')
            if num_classes is not None and num_classes.default in (inspect.Parameter.empty, None):
                kwargs['num_classes'] = model.num_classes
            rule = MODELS.build(dict(type=name, **kwargs))
            rule.attach(model.backbone)
        except Exception as e:  # noqa: BLE001
            skipped.append((name, f'cannot be built with default arguments or attached to this model: '
                                  f'{type(e).__name__}: {e}'))
            continue
        rules.append((name, rule))
    if grid is not None:
        rules.append(('MixToken', MixTokenLabel(grid)))
    else:
        skipped.append(('MixToken', 'the model has no patch grid dividing the image'))
    rules.append(('AutoMix', AutoMixLabel()))
    return rules, skipped


# --------------------------------------------------------------------------------------------------- the run
def _accepts(fn, name: str) -> bool:
    import inspect
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


@dataclass
class Collected:
    y_a: list = field(default_factory=list)
    y_b: list = field(default_factory=list)
    v_a: list = field(default_factory=list)
    v_b: list = field(default_factory=list)

    def add(self, y_a, y_b, v_a, v_b) -> None:
        for name, value in (('y_a', y_a), ('y_b', y_b), ('v_a', v_a), ('v_b', v_b)):
            getattr(self, name).append(value.detach().double().cpu().numpy())

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(getattr(self, k)) if getattr(self, k) else np.zeros(0)
                     for k in ('y_a', 'y_b', 'v_a', 'v_b'))


@torch.no_grad()
def evaluate_checkpoint(cfg, checkpoint: str, batches: list, rule_names: list[str], ema: bool = False,
                        seed: int = 0, log=print, mixer_names: list[str] | None = None) -> dict:
    """Mix ``batches`` with every mixer, label them with every rule; metrics per mixer and rule."""
    from openmix.mixers.geometry import smooth_one_hot
    model, epoch = load_model(cfg, checkpoint, ema)
    device = next(model.parameters()).device
    hw = tuple(batches[0][0].shape[-2:])
    grid = token_grid(model, hw)
    # mixers first: guided ones take a copy of the model before the rules hook it
    mixers, mixers_skipped = discover_mixers(model, hw, seed, mixer_names)
    rules, rules_skipped = build_rules(model, rule_names, grid)
    skipped = [dict(what='rule', name=n, reason=r) for n, r in rules_skipped]
    skipped += [dict(what='mixer', name=n, reason=r) for n, r in mixers_skipped]
    for s in skipped:
        log(f"  skip {s['what']} {s['name']}: {s['reason']}")
    results: dict[str, dict[str, dict]] = {}
    pooled = {name: Collected() for name, _ in rules}
    same_as_area: dict[str, dict[str, bool]] = {}
    correct = total = 0
    for mixer_name, mixer in mixers:
        collected = {name: Collected() for name, _ in rules}
        failed: dict[str, str] = {}
        bad_mix = None
        rule_y: dict[str, list] = {name: [] for name, _ in rules}
        for imgs, labels, obj in batches:
            data = model.data_preprocessor(dict(inputs=imgs.to(device)), training=False)
            x = data['inputs'].float()
            labels, obj = labels.to(device), obj.to(device).float()
            if mixer_name == mixers[0][0]:  # clean accuracy once per checkpoint
                correct += int((model.head(model.extract_feat(x)).argmax(-1) == labels).sum())
                total += len(labels)
            targets = smooth_one_hot(labels, model.num_classes, 0.0)
            try:
                mixed = mix(mixer, x, targets)
            except Exception as e:  # noqa: BLE001
                bad_mix = f'mixing failed: {type(e).__name__}: {e}'
                break
            interp = getattr(mixer, 'interpolation', 'nearest')
            err = reconstruction_error(mixed, x, interp)
            if err > RECON_TOL:
                bad_mix = (f'its mixed images are not (1 - m) x + m x[index] for the mask/box it reports (max error '
                           f'{err:.3g}); the ground truth would be wrong')
                break
            partner_obj, total_b = pasted_partner(mixed, obj, interp)
            v_a, v_b = visible_shares(obj, partner_obj, mixed.weight, total_b)
            index = mixed.batch.index
            keep = labels != labels[index]  # same-class pairs (perm pairing) say nothing about the label
            for name, rule in rules:
                if name in failed:
                    continue
                try:
                    rule.prepare(mixed.batch)
                except Exception as e:  # noqa: BLE001
                    failed[name] = f'prepare failed: {type(e).__name__}: {e}'
            logits = model.head(model.extract_feat(mixed.batch.inputs))
            rows = torch.arange(len(labels), device=device)
            for name, rule in rules:
                if name in failed:
                    continue
                if isinstance(rule, MixTokenLabel):
                    rule.weight = mixed.weight
                if isinstance(rule, AutoMixLabel):
                    rule.drawn = mixed.drawn_lam
                try:
                    y = (rule(targets, mixed.batch, logits=logits) if _accepts(rule.forward, 'logits')
                         else rule(targets, mixed.batch)).float()
                except Exception as e:  # noqa: BLE001
                    failed[name] = f'label failed: {type(e).__name__}: {e}'
                    continue
                y_a, y_b = y[rows, labels][keep], y[rows, labels[index]][keep]
                collected[name].add(y_a, y_b, v_a[keep], v_b[keep])
                pooled[name].add(y_a, y_b, v_a[keep], v_b[keep])
                rule_y[name].append(y_a)
        if bad_mix is not None:
            skipped.append(dict(what='mixer', name=mixer_name, reason=bad_mix))
            log(f'  skip mixer {mixer_name}: {bad_mix}')
            for name in pooled:  # drop this mixer's partial batches from the pooled numbers
                pooled[name] = _drop_last(pooled[name], len(collected[name].y_a))
            continue
        results[mixer_name] = {}
        area_y = torch.cat(rule_y['AreaLabel']) if rule_y.get('AreaLabel') else None
        same_as_area[mixer_name] = {}
        for name, _ in rules:
            if name in failed:
                skipped.append(dict(what='rule', name=name, mixer=mixer_name, reason=failed[name]))
                continue
            results[mixer_name][name] = fidelity_metrics(*collected[name].arrays())
            if area_y is not None and rule_y[name] and area_y.numel():
                same_as_area[mixer_name][name] = bool((torch.cat(rule_y[name]) - area_y).abs().max() < 1e-6)
    grouped: dict[tuple[str, str], list[str]] = {}
    for s in skipped:
        if 'mixer' in s:
            grouped.setdefault((s['name'], s['reason']), []).append(s['mixer'])
    for (name, reason), on in grouped.items():
        log(f"  skip rule {name} on {', '.join(on)}: {reason}")
    for _, rule in rules:
        if hasattr(rule, 'remove'):
            try:
                rule.remove()
            except Exception:  # noqa: BLE001
                pass
    return dict(checkpoint=checkpoint, epoch=epoch, clean_top1=correct / max(total, 1), results=results,
                pooled={name: fidelity_metrics(*c.arrays()) for name, c in pooled.items()},
                same_as_area=same_as_area, skipped=skipped)


def _drop_last(c: Collected, n: int) -> Collected:
    if n:
        for k in ('y_a', 'y_b', 'v_a', 'v_b'):
            setattr(c, k, getattr(c, k)[:-n])
    return c


# --------------------------------------------------------------------------------------------------- output
def _fmt(v: float, digits: int = 3) -> str:
    return 'nan' if v is None or (isinstance(v, float) and math.isnan(v)) else f'{v:.{digits}f}'


def common_mixers(runs: list[dict]) -> list[str]:
    """Mixers with results in every run (a guided mixer can pass the mask check early in training and fail later)."""
    names = [set(run['results']) for run in runs]
    return [m for m in runs[0]['results'] if all(m in n for n in names)] if runs else []


def combined(run: dict, rule: str, mixers: list[str]) -> dict | None:
    """MAE (sample-weighted, = the MAE of the pooled samples) and cut-away rate of ``rule`` over ``mixers``."""
    rows = [run['results'][m][rule] for m in mixers if rule in run['results'][m] and run['results'][m][rule]['n']]
    if not rows:
        return None
    n = sum(r['n'] for r in rows)
    events = sum(r['cut_events'] for r in rows)
    return dict(n=n, mae=sum(r['n'] * r['mae'] for r in rows) / n, cut_events=events,
                cut_rate=sum(r['cut_hits'] for r in rows) / events if events else None)


def markdown_tables(report: dict) -> str:
    """A summary (MAE per rule and epoch over the mixers every checkpoint has) and per checkpoint a mixer x rule
    table."""
    runs = report['checkpoints']
    rules = list(dict.fromkeys(r for run in runs for r in run['pooled']))
    mixers = common_mixers(runs)
    lines = [f"Label fidelity on {report['settings']['num_images']} held-out demo images (threshold "
             f"{WEIGHT_THRESHOLD}, cut away: visible share <= {CUT_AWAY:g}).", '',
             f"### MAE [cut-away rate] per epoch, over the mixers of every checkpoint ({', '.join(mixers)})", '',
             '| rule | ' + ' | '.join(f"ep {run['epoch']}" for run in runs) + ' |',
             '|---|' + '---|' * len(runs)]
    for rule in rules:
        cells = []
        for run in runs:
            m = combined(run, rule, mixers)
            cells.append(f"{_fmt(m['mae'])} [{_fmt(m['cut_rate'], 2)}]" if m else '-')
        lines.append(f'| {rule} | ' + ' | '.join(cells) + ' |')
    lines.append('| clean top-1 | ' + ' | '.join(_fmt(run['clean_top1']) for run in runs) + ' |')
    for run in runs:
        lines += ['', f"### {run['checkpoint']} (epoch {run['epoch']}, clean top-1 {_fmt(run['clean_top1'])})", '',
                  '| mixer | rule | n | MAE | Pearson r | cut-away events | weight > thr on cut-away |',
                  '|---|---|---|---|---|---|---|']
        for mixer, per_rule in run['results'].items():
            for rule, m in per_rule.items():
                note = ' (= area)' if rule != 'AreaLabel' and run['same_as_area'].get(mixer, {}).get(rule) else ''
                lines.append(f"| {mixer} | {rule}{note} | {m['n']} | {_fmt(m['mae'])} | {_fmt(m['pearson'])} | "
                             f"{m['cut_events']} | {_fmt(m['cut_rate'])} |")
        if run['skipped']:
            lines += ['', 'Skipped: ' + '; '.join(
                f"{s['what']} {s['name']}" + (f" on {s['mixer']}" if 'mixer' in s else '') + f": {s['reason']}"
                for s in run['skipped'])]
    return '\n'.join(lines) + '\n'


def plot(report: dict, path: Path) -> Path | None:
    """MAE against epoch per rule (pooled, and on CutMix) as a PNG; None (with a message) without matplotlib."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed: no PNG (pip install "openmix[plot]" or pip install matplotlib)')
        return None
    runs = sorted((r for r in report['checkpoints'] if r['epoch'] is not None), key=lambda r: r['epoch'])
    if not runs:
        print('no checkpoint has an epoch: no PNG')
        return None
    rules = list(dict.fromkeys(r for run in runs for r in run['pooled']))
    mixers = common_mixers(runs)
    panels = [(f'{len(mixers)} mixers (every checkpoint)', lambda run, rule: combined(run, rule, mixers))]
    if any('CutMix' in run['results'] for run in runs):
        panels.append(('CutMix', lambda run, rule: run['results'].get('CutMix', {}).get(rule)))
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.2), squeeze=False)
    for ax, (title, get) in zip(axes[0], panels):
        for rule in rules:
            pts = [(run['epoch'], get(run, rule)['mae']) for run in runs
                   if get(run, rule) and get(run, rule)['n'] and get(run, rule)['mae'] is not None]
            if pts:
                ax.plot(*zip(*pts), marker='o', label=rule)
        ax.set_xlabel('epoch')
        ax.set_ylabel('MAE of label vs visible share')
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _cache_key(ckpt: str, cfg, args, rule_names: list[str]) -> str:
    """Same checkpoint file (path, size, mtime), config, settings and rules: same results."""
    import hashlib
    stat = Path(ckpt).stat() if ckpt != 'init' else None
    ident = [str(Path(ckpt).resolve()) if stat else ckpt, stat.st_size if stat else 0, stat.st_mtime_ns if stat else 0,
             cfg.pretty_text, args.num_images, args.batch_size, args.ema, args.seed, sorted(args.mixers or []),
             rule_names, CUT_AWAY, WEIGHT_THRESHOLD, HELD_OUT_START]
    return hashlib.sha256(json.dumps(ident, default=str).encode()).hexdigest()[:16]


def _json_safe(obj):
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Label fidelity of label rules on mixed demo images',
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('checkpoints', nargs='+', metavar='CHECKPOINT',
                        help="mmengine checkpoints of one config (or 'init': the config's untrained model)")
    parser.add_argument('--config', default=None,
                        help='config the checkpoints were trained with (default: the one saved in the first '
                             'checkpoint, else configs/demo.py)')
    parser.add_argument('--out', default='work_dirs/label_fidelity', help='output folder')
    parser.add_argument('--num-images', type=int, default=512, help='held-out images (a multiple of --batch-size)')
    parser.add_argument('--batch-size', type=int, default=16, help='even; one mixer draw per batch')
    parser.add_argument('--ema', action='store_true', help='use the EMA weights of the checkpoints')
    parser.add_argument('--seed', type=int, default=0, help='seed of the image choice and of every mixer')
    parser.add_argument('--mixers', nargs='+', metavar='NAME',
                        help='only these mixers (registry names, or MixToken); default: every one that builds')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (1 is much faster on a CPU shared with other jobs)')
    parser.add_argument('--no-cache', action='store_true',
                        help='recompute every checkpoint (default: reuse <out>/cache/*.json made with the same '
                             'checkpoint file, config and settings)')
    return parser.parse_args(argv)


def load_cfg(args):
    from mmengine.config import Config

    from openmix.utils.checkpoint import allow_mmengine_checkpoint_globals, load_checkpoint_file
    allow_mmengine_checkpoint_globals()
    if args.config:
        return Config.fromfile(args.config), args.config
    for ckpt in args.checkpoints:
        if ckpt == 'init':
            continue
        text = (load_checkpoint_file(ckpt).get('meta') or {}).get('cfg')
        if isinstance(text, str) and text.strip():
            return Config.fromstring(text, '.py'), f'{ckpt} (meta.cfg)'
        break
    default = Path(__file__).resolve().parents[1] / 'configs' / 'demo.py'
    return Config.fromfile(default), str(default)


def main(argv=None) -> int:
    args = parse_args(argv)
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        with torch.no_grad():  # scoped: main() is also called in-process (tests), grad mode must not leak
            return _run(args)
    finally:
        torch.set_num_threads(threads)


def _run(args) -> int:
    cfg, cfg_source = load_cfg(args)
    params = demo_params(cfg)
    num_batches = max(1, args.num_images // args.batch_size)
    batches = held_out_batches(num_batches, args.batch_size, pick_seed=args.seed, **params)
    rule_names, import_skips = discover_rule_names()
    for name, reason in import_skips:
        print(f'skip rule module {name}: {reason}')
    print(f'config {cfg_source}; {num_batches * args.batch_size} held-out images in batches of {args.batch_size}; '
          f'rules: {", ".join(rule_names)} + MixToken, AutoMix adapters')
    runs = []
    out = Path(args.out)
    for ckpt in args.checkpoints:
        print(f'{ckpt}:')
        key = _cache_key(ckpt, cfg, args, rule_names)
        cached = out / 'cache' / f'{key}.json'
        if not args.no_cache and cached.is_file():
            run = json.loads(cached.read_text())
            print(f'  (cached: {cached})')
        else:
            run = evaluate_checkpoint(cfg, ckpt, batches, rule_names, args.ema, args.seed, mixer_names=args.mixers)
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(_json_safe(run)))
        print(f"  epoch {run['epoch']}, clean top-1 {run['clean_top1']:.3f}; pooled MAE: " + ', '.join(
            f"{k} {_fmt(v['mae'])}" for k, v in run['pooled'].items()))
        runs.append(run)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import describe_env
    report = dict(env=describe_env(torch.device('cpu'), 'float32'), config=cfg_source,
                  settings=dict(num_images=num_batches * args.batch_size, batch_size=args.batch_size, seed=args.seed,
                                ema=args.ema, held_out=f"demo split 'val', indices >= {HELD_OUT_START}",
                                weight_threshold=WEIGHT_THRESHOLD, cut_away=CUT_AWAY,
                                truth='t_a = v_a / (v_a + v_b); v = visible object pixels (partner-weighted) / '
                                      'object pixels',
                                mae='(|y_a - t_a| + |y_b - t_b|) / 2',
                                **{f'demo_{k}': v for k, v in params.items()}),
                  checkpoints=runs)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'label_fidelity.json').write_text(json.dumps(_json_safe(report), indent=1))
    table = markdown_tables(report)
    (out / 'label_fidelity.md').write_text(table)
    print(table)
    png = plot(report, out / 'label_fidelity.png')
    print(f"wrote {out / 'label_fidelity.json'}, {out / 'label_fidelity.md'}" + (f', {png}' if png else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
