"""PuzzleMix: saliency, graph cut (against labellings of the official GCO solver), transport, labels, wiring."""
from __future__ import annotations

import copy
import itertools
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import openmix.mixers.puzzlemix as pm
from openmix.mixers.geometry import smooth_one_hot
from openmix.mixers.puzzlemix import (PuzzleMix, alpha_beta_swap, block_saliency, graph_costs, mask_transport,
                                      puzzle_mix, transport_blocks)
from openmix.registry import MODELS

# Labellings returned by gco-wrapper 3.0.9 (`gco.cut_grid_graph(u, pairwise, v, h, algorithm='swap')`, pairwise
# ``(l - m)^2 / (L - 1)^2`` in float32, as the official ``graphcut_multi``) on the instances of `golden_instance`.
# Small integer costs make many moves tied: under the opposite min-cut tie rule 11 of these 12 labellings differ.
GCO_SWAP_LABELS = [
    (3, 2, '111110111'),
    (3, 3, '022000001'),
    (4, 3, '1012122212122112'),
    (4, 4, '1012201023220013'),
    (5, 3, '0011000120111101100000000'),
    (5, 2, '0001100000000000000111000'),
    (8, 3, '0221001011200010212000202010112022201010211111222000110221001102'),
    (8, 4, '1301011002321110133310212213222333322103123221111122321011311000'),
    (6, 3, '122111101020111010110110111100210011'),
    (4, 3, '0110211021001201'),
    (8, 3, '2011012110001221001010021111001220010122000121221001021220112220'),
    (5, 4, '1313323123201133132311231'),
]


def golden_instance(seed: int, n: int, n_labels: int):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 6, (1, n, n, n_labels)), rng.integers(0, 3, (1, n - 1, n)),
            rng.integers(0, 3, (1, n, n - 1)))


def backends() -> list[str]:
    out = []
    try:
        from scipy.sparse.csgraph import maximum_flow  # noqa: F401
        out.append('scipy')
    except ImportError:
        pass
    try:
        import maxflow
        if hasattr(maxflow, 'GraphFloat'):
            out.append('pymaxflow')
    except ImportError:
        pass
    return out


# the built-in solver needs PyMaxflow or SciPy (`pip install openmix[puzzlemix]`); the rest is tested without them
needs_solver = pytest.mark.skipif(not backends(), reason='no max-flow package (pip install openmix[puzzlemix])')
needs_scipy = pytest.mark.skipif('scipy' not in backends(), reason='SciPy not installed')


def classifier(mixer: dict | None = None):
    torch.manual_seed(0)
    return MODELS.build(dict(type='ImageClassifier', head=dict(type='LinearClsHead', num_classes=5),
                             backbone=dict(type='TimmBackbone', model_name='resnet18', cifar_stem=True),
                             mixer=None if mixer is None else dict(type='PuzzleMix', seed=0, **mixer)))


def blocks_of(img: torch.Tensor, n: int) -> torch.Tensor:
    """``(n^2, C * s * s)`` blocks of one ``(C, H, W)`` image in row-major order."""
    c, h, w = img.shape
    return img.reshape(c, n, h // n, n, w // n).permute(1, 3, 0, 2, 4).reshape(n * n, -1)


# ------------------------------------------------------------------------------------------------------- graph cut

@pytest.mark.parametrize('backend', backends())
def test_swap_labelling_equals_official_gco(backend):  # skipped (empty parameter set) without a max-flow package
    for seed, (n, n_labels, expected) in enumerate(GCO_SWAP_LABELS):
        labels = alpha_beta_swap(*golden_instance(seed, n, n_labels), backend=backend)
        assert ''.join(str(int(v)) for v in labels.ravel()) == expected, (seed, n, n_labels)
    # images of one batch are solved in one graph but independently (8x8, 3 labels: instances 6 and 10)
    parts = [golden_instance(s, 8, 3) for s in (6, 10)]
    batched = alpha_beta_swap(*(np.concatenate(p) for p in zip(*parts)), backend=backend)
    assert [''.join(map(str, b.ravel())) for b in batched] == [GCO_SWAP_LABELS[6][2], GCO_SWAP_LABELS[10][2]]


@needs_solver
def test_swap_result_admits_no_improving_swap_move():
    """Brute force on 3x3 grids: no relabelling of the sites of any two labels lowers the energy."""
    rng = np.random.default_rng(3)
    u, v, h = rng.integers(0, 40, (6, 3, 3, 3)), rng.integers(0, 15, (6, 2, 3)), rng.integers(0, 15, (6, 3, 2))
    labels = alpha_beta_swap(u, v, h)

    def energy(i, lab):  # gco-wrapper's integer energy / 25 for 3 labels: 4 U + w (l - m)^2
        return (4 * np.take_along_axis(u[i], lab[..., None], 2).sum() + (v[i] * (lab[:-1] - lab[1:]) ** 2).sum()
                + (h[i] * (lab[:, :-1] - lab[:, 1:]) ** 2).sum())

    for i in range(6):
        best = energy(i, labels[i])
        for a, b in itertools.combinations(range(3), 2):
            sites = np.argwhere((labels[i] == a) | (labels[i] == b))
            for choice in itertools.product((a, b), repeat=len(sites)):
                lab = labels[i].copy()
                lab[tuple(sites.T)] = choice
                assert energy(i, lab) >= best


@pytest.mark.skipif(len(backends()) < 2, reason='needs both SciPy and PyMaxflow')
def test_backends_agree():
    rng = np.random.default_rng(7)
    u, v, h = rng.integers(0, 3000, (16, 8, 8, 3)), rng.integers(0, 500, (16, 7, 8)), rng.integers(0, 500, (16, 8, 7))
    assert np.array_equal(alpha_beta_swap(u, v, h, backend='scipy'), alpha_beta_swap(u, v, h, backend='pymaxflow'))


@needs_solver
def test_official_gco_solver_gives_the_same_masks():
    pytest.importorskip('gco')
    rng = np.random.default_rng(11)
    for n, n_labels in [(4, 3), (8, 3), (16, 3), (8, 2), (8, 4)]:
        u = rng.integers(0, 4000, (6, n, n, n_labels))
        v, h = rng.integers(0, 700, (6, n - 1, n)), rng.integers(0, 700, (6, n, n - 1))
        assert np.array_equal(alpha_beta_swap(u, v, h), pm.gco_swap(u, v, h))


def test_graph_costs_by_hand():
    """2x2 grid, lam = 0.5, gamma = 0: unary = 4000 * (lost saliency + prior), edges = int(4000 * 1.2 / 2 / 16)."""
    unary = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]]])  # self-salient blocks of 2 images
    pixels = torch.rand(2, 3, 8, 8)
    cost, w_v, w_h = graph_costs(unary, pixels, torch.tensor([1, 0]), 0.5, 2, gamma=0.0)
    prior = 0.2 * -np.log(np.array([0.25, 0.5, 0.25]) + 1e-8) / 4  # eta * -log(binomial(2, lam)) / n^2
    # block (0, 0) of image 0: keeping itself (label 0) loses the partner's 0 there; label 2 loses its own 1
    assert cost[0, 0, 0].tolist() == [int(4000 * prior[0]), int(4000 * (0.5 + prior[1])), int(4000 * (1 + prior[2]))]
    assert cost[0, 0, 0].tolist() == [277, 2138, 4277]
    assert cost[0, 1, 1].tolist() == [4277, 2138, 277]  # the partner's salient block
    assert cost[0, 0, 1].tolist() == [277, 138, 277]
    assert torch.equal(cost[1], cost[0].flip(0, 1))
    assert w_v.unique().tolist() == [150] and w_h.unique().tolist() == [150]


@needs_solver
def test_hand_solved_mask_and_exact_mix():
    """The mask of the hand-costed case: own salient block kept, partner's taken, the rest blended half-half."""
    x = torch.stack([torch.full((3, 8, 8), 0.2), torch.full((3, 8, 8), 0.8)])
    sal = torch.zeros(2, 8, 8)
    sal[0, :4, :4] = 1.0
    sal[1, 4:, 4:] = 1.0
    mixed, mask = puzzle_mix(x, sal, torch.tensor([1, 0]), 0.5, 2, gamma=0.0, transport=False)
    expected = torch.tensor([[1.0, 0.5], [0.5, 0.0]])
    assert torch.equal(F.avg_pool2d(mask, 4)[0, 0], expected)
    assert torch.equal(F.avg_pool2d(mask, 4)[1, 0], expected.flip(0, 1))
    assert torch.allclose(mixed, mask * x + (1 - mask) * x.flip(0))
    assert torch.allclose(mixed[0, 0, ::4, ::4], torch.tensor([[0.2, 0.5], [0.5, 0.8]]))


@needs_solver
def test_prior_alone_follows_lam():
    """No saliency difference, no smoothness data: lam near 1 keeps the whole image, near 0 takes the partner's."""
    x, sal = torch.rand(2, 3, 16, 16), torch.ones(2, 16, 16)
    for lam, value in [(0.999, 1.0), (0.001, 0.0)]:
        _, mask = puzzle_mix(x, sal, torch.tensor([1, 0]), lam, 4, gamma=0.0, transport=False)
        assert torch.all(mask == value)


# ------------------------------------------------------------------------------------------------------- transport

def test_transport_by_hand():
    """2x2 grid, eps 0.2: the salient block hidden by the mask moves into the nearest visible cell (ties: first)."""
    mask = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])
    sal = torch.tensor([[[0.1, 0.6], [0.2, 0.1]]])
    plan = mask_transport(mask, sal, eps=0.2)
    # round 1: blocks 0 and 1 both pick cell 0, block 1 (cost -0.4) wins; round 2: block 0 loses cell 2 to block 2
    assert plan[0].tolist() == [[0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    img = torch.tensor([[[10.0, 20.0], [30.0, 40.0]]]).repeat_interleave(2, -1).repeat_interleave(2, -2)[None]
    moved = transport_blocks(img, plan, 2)
    assert moved[0, 0, ::2, ::2].tolist() == [[20.0, 0.0], [30.0, 40.0]]  # cell 1 unclaimed: zeros, as official


def test_transport_equals_official_matmul_and_fills_visible_cells():
    torch.manual_seed(1)
    for n in (2, 4, 8):
        mask = torch.randint(0, 3, (5, 1, n, n)).float() / 2
        sal = torch.rand(5, n, n) + 1e-3
        plan = mask_transport(mask, sal / sal.sum((1, 2), keepdim=True), eps=0.8)
        assert set(plan.unique().tolist()) <= {0.0, 1.0}
        assert plan.sum(2).max() <= 1 and plan.sum(1).max() <= 1  # each block moves at most once, cells hold one
        visible = (mask > 0).flatten(1)
        assert torch.all(plan.sum(1)[visible] == 1)  # every cell the mask shows gets a block (positive saliency)
        img = torch.randn(5, 3, 8 * n, 8 * n)
        # the official transport_image: blocks as (B, C, s, s, n^2, 1), multiplied by plan^T
        s = 8
        patches = img.reshape(5, 3, n, s, n, s).permute(0, 1, 3, 5, 2, 4).reshape(5, 3, s, s, n * n, 1)
        out = (plan.transpose(-2, -1)[:, None, None, None] @ patches).reshape(5, 3, s, s, n, n)
        official = out.permute(0, 1, 4, 2, 5, 3).reshape(img.shape)
        assert torch.equal(transport_blocks(img, plan, n), official)


# ---------------------------------------------------------------------------------------------- saliency and mixer

def frozen_state(model):
    """Parameter grads, BN statistics and training flags, to compare before and after a call."""
    bn = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    return ([None if p.grad is None else p.grad.clone() for p in model.parameters()],
            [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in bn],
            [m.training for m in model.modules()])


def assert_same_state(before, after):
    assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(before[0], after[0]))
    assert all(torch.equal(a, b) for sa, sb in zip(before[1], after[1]) for a, b in zip(sa, sb))
    assert before[2] == after[2]


def test_saliency_is_input_gradient_and_model_state_is_untouched():
    model = classifier().train()
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    first = next(model.parameters())
    first.grad = torch.randn_like(first)  # an accumulated gradient must survive as is
    before = frozen_state(model)
    grad = pm.input_gradient(model, x, y)
    assert_same_state(before, frozen_state(model))
    assert all(p.grad is None for p in list(model.parameters())[1:])
    ref = copy.deepcopy(model).eval()
    x_ref = x.clone().requires_grad_(True)
    F.cross_entropy(ref(x_ref, mode='tensor'), y).backward()  # official: eval mode, CE on integer labels, mean
    assert torch.allclose(grad, x_ref.grad, rtol=1e-5, atol=1e-12) and grad.abs().sum() > 0
    model.train()  # a train-mode forward gives another gradient: the eval mode matters
    x_train = x.clone().requires_grad_(True)
    F.cross_entropy(copy.deepcopy(model)(x_train, mode='tensor'), y).backward()
    assert not torch.allclose(grad, x_train.grad)


@needs_solver
def test_mixer_call_leaves_grads_bn_statistics_and_modes_alone():
    model = classifier(dict(block_num=2)).train()
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    targets = smooth_one_hot(y, 5, 0.1)
    first = next(model.parameters())
    first.grad = torch.randn_like(first)
    before = frozen_state(model)
    sal = model.mixer.saliency(x, targets)
    mixed = model.mixer(x, targets)
    assert_same_state(before, frozen_state(model))
    assert torch.equal(sal, pm.input_gradient(model, x, y).pow(2).mean(1).sqrt())  # labels = argmax of targets
    assert mixed.mode == 'puzzlemix'


@needs_solver
def test_mixer_pixels_come_from_transported_blocks_and_lam_is_mask_mean():
    model = classifier(dict(block_num=4)).train()
    torch.manual_seed(2)
    x = torch.randn(3, 3, 16, 16)
    out = model.mixer(x, smooth_one_hot(torch.tensor([0, 1, 2]), 5))
    assert model.mixer.last_block_num == 4
    m = out.mask  # partner weight
    assert set(m.unique().tolist()) <= {0.0, 0.5, 1.0}
    assert torch.equal(m, F.interpolate(F.avg_pool2d(m, 4), size=16))  # constant on the 4x4 grid
    for i in range(3):
        j = int(out.index[i])
        if j == i:
            assert out.lam[i] == 1
            continue
        assert torch.allclose(out.lam[i], 1 - m[i].mean())
        own = torch.cat([blocks_of(x[i], 4), torch.zeros(1, 48)])
        other = torch.cat([blocks_of(x[j], 4), torch.zeros(1, 48)])
        used = []
        for k, (blk, w) in enumerate(zip(blocks_of(out.inputs[i], 4), F.avg_pool2d(m[i], 4).flatten())):
            cand = (1 - w) * own[:, None] + w * other[None]  # (17, 17, 48): every (own block, partner block)
            hit = torch.isclose(cand, blk, atol=1e-6).all(-1).nonzero()
            assert len(hit), f'block {k} of sample {i} is not a mix of a block of x[{i}] and one of x[{j}]'
            if w < 1 and hit[0, 0] < 16:
                used.append(int(hit[0, 0]))
        assert len(used) == len(set(used))  # no block of the image is shown twice


@needs_solver
def test_seed_fixes_the_mix_and_rng_state_replays():
    model = classifier(dict(block_num=(2, 4, 8)))
    x, t = torch.randn(4, 3, 16, 16), smooth_one_hot(torch.tensor([0, 1, 2, 3]), 5)
    other = PuzzleMix(seed=0, block_num=(2, 4, 8))
    other.attach(model)
    a, b = model.mixer(x, t), other(x, t)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.index, b.index) and torch.equal(a.lam, b.lam)
    state = model.mixer.get_rng_state()
    first = [model.mixer(x, t) for _ in range(3)]
    model.mixer.set_rng_state(state)
    again = [model.mixer(x, t) for _ in range(3)]
    assert all(torch.equal(p.inputs, q.inputs) and torch.equal(p.lam, q.lam) for p, q in zip(first, again))
    different = PuzzleMix(seed=1, block_num=(2, 4, 8))
    different.attach(model)
    assert not torch.equal(different(x, t).inputs, a.inputs)


@needs_solver
def test_adversarial_noise_stays_in_the_eps_ball():
    model = classifier(dict(block_num=4, adv_p=1.0, transport=False, mean=(0.0,) * 3, std=(255.0,) * 3))
    x = torch.rand(4, 3, 16, 16)  # pixels in [0, 1] with mean 0 / std 255 (0-255 units)
    out = model.mixer(x, smooth_one_hot(torch.tensor([0, 1, 2, 3]), 5))
    clean = (1 - out.mask) * x + out.mask * x[out.index]
    gap = (out.inputs - clean).abs()
    assert gap.max() <= 10 / 255 + 1e-6 and gap.max() > 0


def test_zero_saliency_is_uniform_not_nan():
    sal = torch.zeros(2, 8, 8)
    sal[1] = torch.rand(8, 8)
    out = block_saliency(sal, 4)
    assert torch.all(out[0] == 0.25) and torch.allclose(out[1].sum(), torch.tensor(1.0))


# ------------------------------------------------------------------------------------------ configuration, errors

def test_missing_solver_packages_raise_with_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, 'maxflow', None)
    monkeypatch.setitem(sys.modules, 'scipy.sparse.csgraph', None)
    with pytest.raises(ImportError, match=r'pip install openmix\[puzzlemix\]'):
        PuzzleMix()
    monkeypatch.setitem(sys.modules, 'gco', None)
    with pytest.raises(ImportError, match='pip install gco-wrapper'):
        PuzzleMix(solver='gco')


@needs_scipy
def test_scipy_is_used_without_pymaxflow(monkeypatch):
    monkeypatch.setitem(sys.modules, 'maxflow', None)
    assert PuzzleMix().backend == 'scipy'


def test_config_and_geometry_errors_name_the_key():
    with pytest.raises(ValueError, match='clean_lam'):
        PuzzleMix(clean_lam=1.0)
    with pytest.raises(ValueError, match='mixer.solver'):
        PuzzleMix(solver='expansion')
    with pytest.raises(ValueError, match='mixer.block_num'):
        PuzzleMix(block_num=(1, 2))
    with pytest.raises(ValueError, match='neigh_size'):  # 16x16 grid at 224 px: 14 px blocks, neigh 4
        pm.check_geometry(224, 224, 16, 4, -1)
    with pytest.raises(ValueError, match='mixer.block_num'):
        pm.check_geometry(30, 30, 4, 4, -1)
    with pytest.raises(ValueError, match='square'):
        pm.check_geometry(32, 16, 2, 4, -1)
    pm.check_geometry(224, 224, 8, 4, -1)  # OpenMixup's ImageNet grids are fine


@needs_solver
def test_defaults_and_unattached_error():
    mixer = PuzzleMix()
    assert mixer.block_num == [2, 4, 8, 16]  # official 2 ** randint(1, 5)
    assert (mixer.alpha, mixer.beta, mixer.gamma, mixer.eta, mixer.neigh_size, mixer.n_labels) == (1, 1.2, .5, .2, 4, 3)
    assert (mixer.transport, mixer.t_eps, mixer.t_size, mixer.adv_p, mixer.pairing) == (True, .8, -1, 0, 'perm')
    with pytest.raises(RuntimeError, match='attach'):
        mixer(torch.zeros(2, 3, 8, 8), torch.eye(2))


@needs_solver
def test_image_classifier_end_to_end():
    model = classifier(dict(block_num=(2, 4), t_size=2)).train()
    inputs = torch.randn(4, 3, 16, 16)
    losses = model.loss(inputs, dict(gt_label=torch.tensor([0, 1, 2, 3])))
    losses['loss'].backward()
    assert torch.isfinite(losses['loss'])
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert not any('mixer' in k for k in model.state_dict())  # the weak reference adds no cycle
    assert model.mixer.last_block_num in (2, 4)
