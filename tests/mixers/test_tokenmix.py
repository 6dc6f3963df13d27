"""TokenMix: block token masks and mixing against the official code's recorded output; the teacher-activation label."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from openmix.mixers import Mixup, RandomMix, TokenMix
from openmix.mixers.base import MixParams
from openmix.mixers.geometry import mix_target, smooth_one_hot
from openmix.mixers.tokenmix import TokenMixBatch, block_token_mask, num_mixed_tokens
from openmix.models.label_rules import AreaLabel, TokenMixLabel
from openmix.models.label_rules.tokenmix import activation_target, teacher_token_activation
from openmix.registry import MODELS

REF = np.load(Path(__file__).parents[1] / 'fixtures' / 'reference' / 'tokenmix.npz')


class PyRandom:
    """Python's ``random`` behind the two draws :func:`block_token_mask` takes (``integers`` hi exclusive)."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def uniform(self, a, b):
        return self.r.uniform(a, b)

    def integers(self, lo, hi):
        return self.r.randrange(lo, hi)


def test_block_masks_equal_official():
    masks = np.unpackbits(REF['block_masks'], axis=-1)[..., :14].astype(bool)
    for s, lam in enumerate(REF['block_lam_in']):
        ours = block_token_mask(PyRandom(s), (14, 14), num_mixed_tokens(float(lam), 196, 14))
        np.testing.assert_array_equal(ours, masks[s], err_msg=f'seed {s}')
        assert 1 - ours.sum() / 196 == pytest.approx(REF['block_lam'][s], abs=1e-12)


def test_mixing_equals_official():
    b = 4
    x0 = (torch.arange(b * 224 * 224) % 251).float().view(b, 1, 224, 224)
    mixer = TokenMix(seed=0)
    for mask, x_ref in zip(REF['call_mask'], REF['call_x']):
        params = MixParams(np.array([1 - mask.sum() / 196]), extra=dict(token_mask=mask.astype(bool)))
        out = mixer.mix_whole_batch(x0.clone(), params)
        assert isinstance(out, TokenMixBatch)
        np.testing.assert_array_equal(out.inputs.numpy(), x_ref.astype(np.float32))
        assert torch.equal(out.index, torch.arange(b - 1, -1, -1))
        assert torch.allclose(out.lam, torch.full((b,), 1 - mask.sum() / 196))
        assert torch.equal(out.token_mask[0], torch.from_numpy(mask).float())
        assert out.clean.data_ptr() != out.inputs.data_ptr() and torch.equal(out.clean, x0)


def test_teacher_target_equals_official():
    dense = torch.from_numpy(REF['call_dense'])
    labels = torch.from_numpy(REF['call_labels']).long()
    targets = smooth_one_hot(labels, 10, 0.1)
    act = teacher_token_activation(dense, labels, (14, 14), topk=5)
    assert torch.allclose(act.sum((1, 2)), torch.ones(4), atol=1e-5)
    index = torch.arange(3, -1, -1)
    for mask, ref in zip(REF['call_mask'], REF['call_target']):
        m = torch.from_numpy(mask).float()[None].expand(4, -1, -1)
        ours = activation_target(act, m, targets, index)
        np.testing.assert_allclose(ours.numpy(), ref, atol=2e-6, rtol=0)
        norm = activation_target(act, m, targets, index, normalize=True)
        assert torch.allclose(norm.sum(1), torch.ones(4), atol=1e-5)
    assert int(REF['odd_batch_refused']) == 1


def test_draws_and_invariants():
    x = torch.randn(6, 3, 32, 32)
    a, b = TokenMix(grid_size=4, minimum_tokens=2, seed=3), TokenMix(grid_size=4, minimum_tokens=2, seed=3)
    out_a, out_b = a(x.clone()), b(x.clone())
    assert torch.equal(out_a.inputs, out_b.inputs)  # a seed fixes the result
    k = out_a.token_mask[0].sum()
    assert 0 < k <= num_mixed_tokens(0.5, 16, 2)
    assert torch.allclose(out_a.lam, 1 - k / 16)
    # every pixel comes from the sample or its partner, as the upsampled token mask says
    m = out_a.mask.bool()
    assert torch.equal(out_a.inputs, torch.where(m, x.flip(0), x))
    rnd = TokenMix(grid_size=4, mask_type='random', lam=0.25, minimum_tokens=1, seed=0)
    assert rnd.draw(rnd.rng, 1, (32, 32)).extra['token_mask'].sum() == num_mixed_tokens(0.25, 16, 1) == 13
    beta = TokenMix(lam=None, alpha=1.0, seed=0)
    assert beta.draws_beta and not TokenMix().draws_beta and TokenMix(alpha=0.0).enabled
    with pytest.raises(ValueError, match='mask_type'):
        TokenMix(mask_type='box')
    with pytest.raises(ValueError, match='grid_size'):
        TokenMix(grid_size=0)
    with pytest.raises(ValueError, match='elem'):
        RandomMix(mixers=[dict(type='Mixup'), dict(type='TokenMix')], mode='elem')


@pytest.fixture
def tiny_teacher(tmp_path):
    kw = dict(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=5)
    torch.manual_seed(0)
    net = timm.create_model('vit_tiny_patch16_224', **kw)
    path = tmp_path / 'teacher.pth'
    torch.save(net.state_dict(), path)
    return dict(model_name='vit_tiny_patch16_224', checkpoint=str(path), **kw), net


def test_label_rule_with_teacher(tiny_teacher):
    cfg, net = tiny_teacher
    rule = MODELS.build(dict(type='TokenMixLabel', teacher=cfg))
    assert not list(rule.parameters()) and not rule.state_dict()  # the teacher is not a submodule
    x = torch.randn(4, 3, 32, 32)
    labels = torch.tensor([0, 1, 2, 3])
    targets = smooth_one_hot(labels, 5, 0.1)
    mixer = TokenMix(grid_size=4, minimum_tokens=2, seed=1)
    mixed = mixer(x.clone())
    out = rule(targets, mixed)
    net.eval()
    with torch.no_grad():
        tokens = net.forward_features(x)[:, 1:]
        dense = net.get_classifier()(tokens).transpose(1, 2).reshape(4, 5, 4, 4)
    act = teacher_token_activation(dense, labels, (4, 4))
    assert torch.allclose(out, activation_target(act, mixed.token_mask, targets, mixed.index), atol=1e-6)
    w_a = (act * (1 - mixed.token_mask)).flatten(1).sum(1)
    # labels differ from the partners': own-class entry w_a + (0.92 - 1) / 2 + 0.02 / 2 (smoothing 0.1, K = 5)
    assert torch.allclose(out[torch.arange(4), labels], w_a - 0.03, atol=1e-5)
    assert not out.requires_grad
    # Mixup batches (no token mask) keep area labels; without a teacher the rule is AreaLabel
    mm = Mixup(alpha=0.8, seed=0)(x.clone())
    assert torch.equal(rule(targets, mm), mix_target(targets, mm.index, mm.lam))
    plain = TokenMixLabel()
    assert torch.equal(plain(targets, mixed), AreaLabel()(targets, mixed))


def test_teacher_errors(tmp_path, tiny_teacher):
    cfg, _ = tiny_teacher
    with pytest.raises(FileNotFoundError, match='teacher.checkpoint'):
        TokenMixLabel(teacher=dict(cfg, checkpoint=str(tmp_path / 'missing.pth')))
    with pytest.raises(KeyError, match='similar'):
        TokenMixLabel(teacher=dict(cfg, model_name='vit_tiny_patch16_22'))
    with pytest.raises(KeyError, match="'config'"):
        TokenMixLabel(teacher=dict(checkpoint=cfg['checkpoint']))
    with pytest.raises(ValueError, match='topk'):
        TokenMixLabel(topk=0)


def test_config_teacher_in_a_training_step(tmp_path):
    """An openmix config + checkpoint as the teacher; one training step of the demo model with TokenMix."""
    from mmengine.config import Config
    cfg = Config.fromfile('configs/demo_tokenmix.py')
    teacher = MODELS.build(Config.fromfile('configs/demo_cutmix.py').model)
    path = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict=teacher.state_dict()), path)
    model_cfg = cfg.model
    model_cfg.label_assigner.teacher = dict(config='configs/demo_cutmix.py', checkpoint=str(path))
    model_cfg.mixer.seed = 0
    model = MODELS.build(model_cfg)
    x = torch.randn(4, 3, 64, 64)
    loss = model.loss(x, dict(gt_label=torch.tensor([0, 1, 2, 3])))['loss']
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is None for p in model.label_assigner.teacher.parameters())
