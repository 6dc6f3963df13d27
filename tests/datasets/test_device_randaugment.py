"""DeviceRandAugment against timm's PIL RandAugment: each op with the same arguments, whole-policy outputs with the
same draws, and the distribution of ops and magnitudes over many draws."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
import timm.data.auto_augment as timm_aa
from PIL import Image

from openmix.datasets.device_ops.randaugment import (RAND_INCREASING_TRANSFORMS, DeviceRandAugment, apply_op,
                                                     level_to_arg)
from openmix.datasets.transforms import safe_posterize
from openmix.models.data_preprocessor import ClsDataPreprocessor

FILL = (124, 116, 104)
PIL_FILTER = dict(nearest=Image.NEAREST, bilinear=Image.BILINEAR, bicubic=Image.BICUBIC)
GEOMETRIC = ('Rotate', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel')


def _pil_fn(name):
    return safe_posterize if name.startswith('Posterize') else timm_aa.NAME_TO_OP[name]


def _pil_args(name, arg):
    if timm_aa.LEVEL_TO_ARG[name] is None:
        return ()
    return (int(arg),) if name.startswith(('Posterize', 'Solarize')) else (float(arg),)


def _images() -> torch.Tensor:
    """4 random images and 4 structured ones (gradients, low-contrast, few grey levels) of 40x48."""
    g = torch.Generator().manual_seed(0)
    rnd = torch.randint(0, 256, (4, 3, 40, 48), generator=g, dtype=torch.uint8)
    yy, xx = torch.meshgrid(torch.arange(40), torch.arange(48), indexing='ij')
    grad = torch.stack([(xx * 6) % 256, (yy * 5) % 256, ((xx + yy) * 3) % 256]).float()
    noise = torch.randint(0, 20, (4, 3, 40, 48), generator=g).float()
    structured = grad * torch.tensor([1., .6, .3, .05]).view(4, 1, 1, 1) + noise
    structured[3] = structured[3].round() // 8 * 8 + 100  # a handful of levels: equalize/autocontrast edge cases
    return torch.cat([rnd, structured.clamp(0, 255).to(torch.uint8)])


def _to_pil(img: torch.Tensor) -> Image.Image:
    return Image.fromarray(img.permute(1, 2, 0).numpy())


def _from_pil(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)


def _timm_op(name, x, arg, interpolation='bicubic'):
    return torch.stack([_from_pil(_pil_fn(name)(_to_pil(img), *_pil_args(name, arg), fillcolor=FILL,
                                                resample=PIL_FILTER[interpolation])) for img in x])


CASES = [(name, m, s) for name in RAND_INCREASING_TRANSFORMS for m, s in ((3.3, 1.), (9.6, -1.), (10., 1.))]


@pytest.mark.parametrize('name,magnitude,sign', CASES)
def test_op_matches_timm_pil(name, magnitude, sign):
    """Each op equals timm's PIL op given the same argument: mean error < 0.01 grey level, max 1 (measured: all
    colour and point ops bit-exact but AutoContrast (~1e-4 of values off by 1); geometric ops with Pillow's bicubic
    filter off by 1 on < 0.3% of values from float32 vs double coordinates)."""
    x = _images()
    arg = level_to_arg(name, torch.tensor([magnitude], dtype=torch.float64), torch.tensor([sign], dtype=torch.float64))
    out = apply_op(name, x, arg.expand(len(x)), fill=FILL)
    diff = (out.int() - _timm_op(name, x, arg.item()).int()).abs()
    assert diff.float().mean() < 0.01 and diff.max() <= 1, (name, diff.float().mean(), diff.max())


@pytest.mark.parametrize('interpolation', ['nearest', 'bilinear'])
@pytest.mark.parametrize('name', GEOMETRIC)
def test_geometric_filters_match_pil(name, interpolation):
    x = _images()[:4]
    arg = level_to_arg(name, torch.tensor([7.5], dtype=torch.float64), torch.tensor([-1.], dtype=torch.float64))
    out = apply_op(name, x, arg.expand(len(x)), fill=FILL, interpolation=interpolation)
    diff = (out.int() - _timm_op(name, x, arg.item(), interpolation).int()).abs()
    if interpolation == 'bilinear':
        assert diff.float().mean() < 0.01 and diff.max() <= 1
    else:  # a source point on a pixel edge may round either way: a whole pixel jump, rarely
        assert (diff > 0).float().mean() < 0.005


def test_policy_matches_timm_with_same_draws():
    """The whole policy (2 layers, per-sample ops, skipped ops) equals timm's ops applied in order per image."""
    x = _images().repeat(3, 1, 1, 1)
    aug = DeviceRandAugment('rand-m9-mstd0.5-inc1', img_mean=FILL, seed=3)
    p = aug.sample(len(x))
    out = aug(x, params=p)
    refs = []
    for i, img in enumerate(x):
        pil = _to_pil(img)
        for layer in range(aug.num_layers):
            if p['applied'][i, layer]:
                name = aug.names[p['op'][i, layer]]
                pil = _pil_fn(name)(pil, *_pil_args(name, p['arg'][i, layer]), fillcolor=FILL, resample=Image.BICUBIC)
        refs.append(_from_pil(pil))
    diff = (out.int() - torch.stack(refs).int()).abs()
    assert diff.float().mean() < 0.05 and (diff > 1).float().mean() < 0.002, (diff.float().mean(), diff.max())
    assert (out != x).any() and out.dtype == torch.uint8


def _timm_draws(n: int, seed: int = 0):
    """timm's RandAugment on ``n`` images with the ops' image functions replaced by recorders of (name, args)."""
    import random
    ra = timm_aa.rand_augment_transform('rand-m9-mstd0.5-inc1', dict(translate_const=100, img_mean=FILL))
    log = []
    for op in ra.ops:
        op.aug_fn = (lambda name: lambda img, *args, **_: log.append((name, args[0] if args else 0.)) or img)(op.name)
    random.seed(seed)
    np.random.seed(seed)
    for _ in range(n):
        ra(None)
    return log


def test_op_and_magnitude_distribution_matches_timm():
    """20,000 images: per-op applied frequencies, argument means/stds and sign balance within sampling error."""
    n, layers = 20_000, 2
    timm_log = _timm_draws(n)
    p = DeviceRandAugment('rand-m9-mstd0.5-inc1', img_mean=FILL, seed=0).sample(n)
    ours = {name: p['arg'][(p['op'] == k) & p['applied']] for k, name in enumerate(RAND_INCREASING_TRANSFORMS)}
    theirs = {name: torch.tensor([a for nm, a in timm_log if nm == name], dtype=torch.float64)
              for name in RAND_INCREASING_TRANSFORMS}
    total = n * layers
    expected = 0.5 / 15  # with replacement: each layer picks one of 15 ops, applied with p = 0.5
    for name in RAND_INCREASING_TRANSFORMS:
        f_ours, f_timm = len(ours[name]) / total, len(theirs[name]) / total
        sd = math.sqrt(expected * (1 - expected) / total)
        assert abs(f_ours - expected) < 5 * sd and abs(f_timm - expected) < 5 * sd, (name, f_ours, f_timm)
        a, b = ours[name], theirs[name]
        if a.std() == 0 and b.std() == 0:
            assert torch.all(a == 0) and torch.all(b == 0), name
            continue
        se = math.sqrt(a.var() / len(a) + b.var() / len(b))
        assert abs(a.mean() - b.mean()) < 5 * se, (name, a.mean(), b.mean())
        assert abs(a.abs().mean() - b.abs().mean()) < 5 * math.sqrt(a.abs().var() / len(a) + b.abs().var() / len(b))
        assert abs(a.abs().std() / b.abs().std() - 1) < 0.1, (name, a.abs().std(), b.abs().std())
    # discrete arguments: posterize bits and solarize thresholds with the same frequencies
    for name in ('PosterizeIncreasing', 'SolarizeIncreasing', 'SolarizeAdd'):
        ca, cb = Counter(ours[name].tolist()), Counter(theirs[name].tolist())
        for v in set(ca) | set(cb):
            pa, pb = ca[v] / len(ours[name]), cb[v] / len(theirs[name])
            assert abs(pa - pb) < 5 * math.sqrt(max(pa, pb, 1e-3) * 2 / min(len(ours[name]), len(theirs[name]))), \
                (name, v, pa, pb)
    # ops drawn with replacement: both layers pick the same op for 1/15 of the images
    same = (p['op'][:, 0] == p['op'][:, 1]).double().mean()
    assert abs(same - 1 / 15) < 5 * math.sqrt(1 / 15 * 14 / 15 / n)


def test_weighted_op_set_draws_without_replacement_as_timm():
    """``-tweights``: timm draws 2 of its 15 weighted ops without replacement (np.random.choice, p=weights); the
    per-layer op frequencies over 20,000 images agree with timm's, and no image repeats an op."""
    import random
    n, cfg = 20_000, 'rand-m9-mstd0.5-tweights-p1.0'
    ra = timm_aa.rand_augment_transform(cfg, dict(translate_const=100, img_mean=FILL))
    log = []
    for op in ra.ops:
        op.aug_fn = (lambda name: lambda img, *args, **_: log.append(name) or img)(op.name)
    random.seed(0)
    np.random.seed(0)
    for _ in range(n):
        ra(None)
    aug = DeviceRandAugment(cfg, img_mean=FILL, seed=0)
    assert aug.names == tuple(ra.ops[i].name for i in range(len(ra.ops)))
    p = aug.sample(n)
    assert (p['op'][:, 0] != p['op'][:, 1]).all() and p['applied'].all()
    for layer in range(2):
        theirs = Counter(log[layer::2])
        ours = Counter(aug.names[k] for k in p['op'][:, layer].tolist())
        for name in aug.names:
            pa, pb = ours[name] / n, theirs[name] / n
            assert abs(pa - pb) < 5 * math.sqrt(max(pa, pb, 1e-3) * 2 / n), (layer, name, pa, pb)
    w = aug.choice_weights
    assert abs(Counter(p['op'][:, 0].tolist())[0] / n - float(w[0])) < 5 * math.sqrt(float(w[0]) / n)  # Rotate


def test_random_interpolation_picks_bilinear_or_bicubic_per_op_application():
    x = _images().repeat(2, 1, 1, 1)
    aug = DeviceRandAugment('rand-m9-mstd0.5-inc1', img_mean=FILL, interpolation='random', seed=1)
    p = aug.sample(4000)
    assert abs(p['bicubic'].double().mean() - 0.5) < 5 * math.sqrt(0.25 / p['bicubic'].numel())
    n = len(x)
    rotate, shear = aug.names.index('Rotate'), aug.names.index('ShearX')
    params = dict(op=torch.tensor([[rotate, shear]] * n), applied=torch.ones(n, 2, dtype=torch.bool),
                  arg=torch.tensor([[17.0, 0.2]] * n, dtype=torch.float64),
                  bicubic=torch.tensor([[i % 2 == 0, i % 4 < 2] for i in range(n)]))
    out = aug(x, params=params)
    for i in range(n):
        y = x[i:i + 1]
        for layer, name in enumerate(('Rotate', 'ShearX')):
            interp = 'bicubic' if params['bicubic'][i, layer] else 'bilinear'
            y = apply_op(name, y, params['arg'][i, layer], FILL, interp)
        assert torch.equal(out[i:i + 1], y), i
    assert not torch.equal(apply_op('Rotate', x, 17.0, FILL, 'bilinear'), apply_op('Rotate', x, 17.0, FILL, 'bicubic'))


def test_seed_state_and_preprocessor():
    x = _images()
    a, b = DeviceRandAugment(seed=5), DeviceRandAugment(seed=5)
    assert torch.equal(a(x), b(x))
    state = a.generator.get_state()
    first = a(x)
    a.generator.set_state(state)
    assert torch.equal(a(x), first)
    with pytest.raises(TypeError):
        a(x.float())
    with pytest.raises(ValueError, match="supported: 'tweights'"):
        DeviceRandAugment('rand-m9-t3a')

    pre = ClsDataPreprocessor(mean=(0., 0., 0.), std=(1., 1., 1.),
                              device_augment=dict(type='DeviceRandAugment', img_mean=FILL, seed=5))
    ref = DeviceRandAugment(img_mean=FILL, seed=5)
    assert torch.equal(pre(dict(inputs=x), training=True)['inputs'], ref(x).float())  # before normalising
    assert torch.equal(pre(dict(inputs=x), training=False)['inputs'], x.float())  # training only
    from openmix.engine.hooks.random_state_hook import get_random_state, set_random_state
    saved = get_random_state(pre)
    after = pre(dict(inputs=x), training=True)['inputs']
    set_random_state(saved, pre)
    assert torch.equal(pre(dict(inputs=x), training=True)['inputs'], after)
