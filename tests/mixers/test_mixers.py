import numpy as np
import pytest
import torch
from timm.data.mixup import mixup_target as timm_mixup_target

from openmix.mixers import CutMix, Mixup, MixParams, RandomMix
from openmix.mixers.geometry import (box_area_lam, box_mask, mix_target, rand_bbox, rand_bbox_clovaai,
                                     rand_bbox_minmax, smooth_one_hot)
from openmix.registry import MIXERS


class FixedRng:
    """Stands in for np.random.Generator: integers() returns the queued centres."""

    def __init__(self, *values):
        self.values = list(values)

    def integers(self, low, high=None, size=None):
        return np.asarray(self.values.pop(0))


def distinct_batch(b=6, h=16, w=16):
    # every pixel of every image is unique, so each output pixel tells where it came from
    return torch.arange(b * 3 * h * w, dtype=torch.float32).view(b, 3, h, w)


def test_rand_bbox_timm_geometry_by_hand():
    # lam = 0.75 -> ratio 0.5 -> cut 8 on 16; centre (3, 12): rows 3-4 .. 3+4, clipped: [0, 7), cols [8, 16)
    box = rand_bbox(FixedRng([3], [12]), (16, 16), np.array([0.75]))
    assert box.tolist() == [[0, 7, 8, 16]]
    # odd side: lam 1 - (5/16)^2 -> cut 5 -> [c - 2, c + 3)
    box = rand_bbox(FixedRng([8], [8]), (16, 16), np.array([1 - (5 / 16) ** 2 - 1e-12]))
    assert box.tolist() == [[6, 11, 6, 11]]
    assert box_area_lam(box, (16, 16)).tolist() == [1 - 25 / 256]


def test_rand_bbox_clovaai_even_side():
    box = rand_bbox_clovaai(FixedRng([8], [8]), (16, 16), np.array([1 - (5 / 16) ** 2 - 1e-12]))
    assert box.tolist() == [[6, 10, 6, 10]]  # 2 * (5 // 2) = 4


def test_rand_bbox_minmax_inside_and_in_range():
    rng = np.random.default_rng(0)
    box = rand_bbox_minmax(rng, (20, 30), (0.2, 0.8), 500)
    h, w = box[:, 1] - box[:, 0], box[:, 3] - box[:, 2]
    assert (box[:, 0] >= 0).all() and (box[:, 1] <= 20).all() and (box[:, 3] <= 30).all()
    assert h.min() >= 4 and h.max() < 16 and w.min() >= 6 and w.max() < 24


def test_box_mask_matches_slicing():
    boxes = torch.tensor([[1, 4, 2, 7], [0, 0, 0, 0]])
    mask = box_mask(boxes, (6, 8))
    ref = torch.zeros(2, 1, 6, 8, dtype=torch.bool)
    ref[0, :, 1:4, 2:7] = True
    assert torch.equal(mask, ref)


@pytest.mark.parametrize('mixer', [Mixup(alpha=1.0, prob=0.0, seed=0), CutMix(alpha=1.0, prob=0.0, seed=0)])
def test_prob_zero_is_identity(mixer):
    x = distinct_batch()
    out = mixer(x.clone())
    assert torch.equal(out.inputs, x) and torch.equal(out.lam, torch.ones(6)) and out.mode == 'none'


@pytest.mark.parametrize('cls', [Mixup, CutMix])
def test_lam_one_is_identity(cls):
    x = distinct_batch()
    params = MixParams(np.array([1.0]), np.array([[0, 0, 0, 0]]))
    out = cls(seed=0).mix_whole_batch(x.clone(), params)
    assert torch.equal(out.inputs, x) and torch.equal(out.lam, torch.ones(6))


def test_mixup_batch_values():
    x = distinct_batch()
    out = Mixup(alpha=0.8, seed=3)(x.clone())
    lam = float(out.lam[0])
    assert 0 < lam < 1 and torch.equal(out.index, torch.arange(5, -1, -1))
    torch.testing.assert_close(out.inputs, lam * x + (1 - lam) * x.flip(0), rtol=1e-6, atol=1e-3)


def test_cutmix_lam_is_one_minus_pasted_area_and_pixels_come_from_partner():
    for seed in range(20):
        x = distinct_batch()
        out = CutMix(alpha=1.0, seed=seed)(x.clone())
        if out.mode == 'none':
            continue
        from_partner = out.inputs == x[out.index]
        from_self = out.inputs == x
        y0, y1, x0, x1 = out.box[0].tolist()
        inside = torch.zeros_like(from_partner)
        inside[:, :, y0:y1, x0:x1] = True
        assert from_partner[inside].all() and from_self[~inside].all()
        area = inside[0, 0].float().mean().item()
        torch.testing.assert_close(out.lam, torch.full((6,), 1 - area))


def test_cutmix_without_correction_keeps_sampled_lam():
    mixer = CutMix(alpha=1.0, correct_lam=False, seed=1)
    params = mixer.draw(np.random.default_rng(5), 1, (16, 16))
    lam = np.random.default_rng(5).beta(1.0, 1.0)
    assert params.lam[0] == pytest.approx(lam)


def test_batch_mode_matches_timm_target():
    labels = torch.tensor([0, 3, 1, 2])
    y = smooth_one_hot(labels, 5, 0.1)
    lam = torch.full((4,), 0.3)
    ours = mix_target(y, torch.arange(3, -1, -1), lam)
    torch.testing.assert_close(ours, timm_mixup_target(labels, 5, 0.3, 0.1))
    torch.testing.assert_close(ours.sum(1), torch.ones(4))


def test_same_seed_same_batch_and_different_seed_differs():
    cfg = dict(type='RandomMix', mixers=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)],
               switch_prob=0.5, mode='elem')
    x = torch.rand(8, 3, 16, 16)
    a = MIXERS.build(dict(cfg, seed=7))(x.clone())
    b = MIXERS.build(dict(cfg, seed=7))(x.clone())
    c = MIXERS.build(dict(cfg, seed=8))(x.clone())
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.lam, b.lam)
    assert not torch.equal(a.lam, c.lam)


def test_elem_mode_per_sample_lam_and_pixels():
    x = distinct_batch(8)
    mixer = RandomMix([Mixup(alpha=1.0), CutMix(alpha=1.0)], switch_prob=0.5, mode='elem', seed=11)
    out = mixer(x.clone())
    assert len(set(out.lam.tolist())) > 4  # one lam per sample
    partner = x[out.index]
    for i in range(8):
        lam = out.lam[i].item()
        if out.is_box[i]:
            y0, y1, x0, x1 = out.box[i].tolist()
            ref = x[i].clone()
            ref[:, y0:y1, x0:x1] = partner[i][:, y0:y1, x0:x1]
            assert torch.equal(out.inputs[i], ref)
            assert lam == pytest.approx(1 - (y1 - y0) * (x1 - x0) / 256)
        else:
            torch.testing.assert_close(out.inputs[i], lam * x[i] + (1 - lam) * partner[i], rtol=1e-6, atol=1e-2)
    assert out.is_box.any() and (~out.is_box).any()


def test_pair_mode_is_symmetric_and_odd_middle_unmixed():
    x = distinct_batch(7)
    out = RandomMix([Mixup(alpha=1.0), CutMix(alpha=1.0)], mode='pair', seed=2)(x.clone())
    assert torch.equal(out.lam, out.lam.flip(0))
    assert out.lam[3] == 1 and torch.equal(out.inputs[3], x[3])
    assert torch.equal(out.box, out.box.flip(0))


def test_odd_batch_flip_and_perm_pairing():
    x = distinct_batch(5)
    out = Mixup(alpha=1.0, seed=0)(x.clone())
    assert out.lam[2] == 1  # mixed with itself: the pixels are unchanged up to rounding
    torch.testing.assert_close(out.inputs[2], x[2])
    out = Mixup(alpha=1.0, pairing='perm', seed=0)(x.clone())
    assert sorted(out.index.tolist()) == list(range(5))


def test_switch_prob_frequency_and_disabled():
    mixer = RandomMix([Mixup(alpha=0.8), CutMix(alpha=1.0)], switch_prob=0.8, seed=0)
    modes = [mixer(torch.rand(2, 3, 8, 8)).mode for _ in range(2000)]
    assert 0.77 < modes.count('cutmix') / 2000 < 0.83
    mixer.enabled = False
    assert mixer(torch.rand(2, 3, 8, 8)).mode == 'none'


def test_rng_state_roundtrip():
    mixer = RandomMix([Mixup(alpha=0.8), CutMix(alpha=1.0)], seed=0)
    state = mixer.get_rng_state()
    a = mixer(torch.rand(4, 3, 8, 8)).lam
    mixer.set_rng_state(state)
    b = mixer(torch.rand(4, 3, 8, 8)).lam
    assert torch.equal(a, b)


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match='pairing'):
        Mixup(pairing='shuffle')
    with pytest.raises(ValueError, match="mode='pair'"):
        RandomMix([Mixup()], mode='pair', pairing='perm')
    with pytest.raises(ValueError, match='switch_prob needs exactly two'):
        RandomMix([Mixup()], switch_prob=0.5)
    with pytest.raises(KeyError, match="'CutMx' is not registered in openmix's 'mixer' registry.*CutMix"):
        MIXERS.build(dict(type='CutMx'))
