"""AdAutoMix: the generator against recorded official output, and the training step's invariants."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from openmix.models.automix import AdAutoMixClassifier, AdaptiveMaskBlock
from openmix.registry import MODELS

FIXTURE = Path(__file__).resolve().parents[1] / 'fixtures' / 'reference' / 'adautomix_mask.npz'
RESNET = dict(type='TimmBackbone', model_name='resnet18', cifar_stem=True)


def build(**kwargs) -> AdAutoMixClassifier:
    cfg = dict(type='AdAutoMixClassifier', backbone=RESNET, head=dict(type='LinearClsHead', num_classes=5), seed=0)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def batch(b=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, 32, 32, generator=g), dict(gt_label=torch.arange(b) % 5)


def test_generator_equals_official_adaptive_mask():
    ref = np.load(FIXTURE)
    worst = 0.0
    for c in range(int(ref['n_cases'])):
        p = f'c{c}_'
        block = AdaptiveMaskBlock(8, lam_concat=bool(ref[p + 'lam_concat']), upsample_mode=str(ref[p + 'mode']))
        names = dict(q='query', k='key', v='value')
        block.load_state_dict({f'{names[s]}.{"weight" if t == "w" else "bias"}': torch.from_numpy(ref[f'{p}{s}_{t}'])
                               for s in 'qkv' for t in 'wb'})
        mask = block(list(torch.from_numpy(ref[p + 'feats'])), [float(v) for v in ref[p + 'lams']],
                     int(ref[p + 'scale']))
        worst = max(worst, (mask - torch.from_numpy(ref[p + 'mask'])).abs().max().item())
        assert torch.allclose(mask.sum(1), torch.ones_like(mask[:, 0]), atol=1e-6)
    assert worst < 1e-6, worst


@pytest.mark.parametrize('mix_samples', [2, 3])
def test_step_losses_masks_and_draws(mix_samples):
    model = build(mix_samples=mix_samples)
    x, ds = batch()
    lam_mb, lam_bb, index_mb, index_bb = copy.deepcopy(model).draw_mix(4)
    assert len(index_mb) == len(index_bb) == len(lam_mb) == mix_samples
    assert sum(lam_mb) == pytest.approx(1.0) and sum(lam_bb) == pytest.approx(1.0)
    if mix_samples == 2:  # AutoMix's pairing: the unshuffled batch first, two independent lams
        assert torch.equal(index_mb[0], torch.arange(4)) and lam_mb[0] != lam_bb[0]
    else:  # one set of normalised weights for both mixtures, all images permuted
        assert lam_mb == lam_bb
    losses = model.loss(x, ds)
    assert set(losses) == {'loss_mix_k', 'loss_one_q', 'loss_mix_q'}
    assert all(torch.isfinite(v) for v in losses.values())


def test_adversarial_steps_reverse_the_generator_gradient_and_spare_the_encoder():
    x, ds = batch()
    model = build(beta=1.0)  # adversarial loss = -CE_k exactly
    twin = copy.deepcopy(model)
    twin._adv_count = 1  # same draws, the non-adversarial step
    grads = []
    for m in (model, twin):
        m.zero_grad()
        m.loss(x, ds)['loss_mix_k'].backward()
        grads.append([p.grad.clone() for p in m.mix_block.parameters()])
        assert all(p.grad is None for p in m.backbone.parameters())  # the encoder learns nothing from it
        assert all(not p.requires_grad for p in m.backbone_k.parameters())
    for g_adv, g_plain in zip(*grads):
        assert torch.allclose(g_adv, -g_plain, atol=1e-6, rtol=1e-4)
    assert any(g.abs().sum() > 0 for g in grads[1])
    # parity alternates and is checkpointed
    assert int(model.adv_step) == 1
    model.loss(x, ds)
    state = model.state_dict()
    assert int(state['adv_step']) == 2
    fresh = build(beta=1.0)
    fresh.load_state_dict(state)
    assert fresh._adv_count == 2


def test_cosine_term_from_the_clean_pass_equals_permuted_forwards():
    """The official code runs backbone_k on each permuted batch; permuting a batch only permutes its logits."""
    model = build()
    x, _ = batch(b=6)
    _, logits = model.k_features_and_logits(x)
    perm = torch.randperm(6)
    with torch.no_grad():
        direct = model.head_k(model.backbone_k(x[perm])).float()
    assert torch.allclose(logits[perm], direct, atol=1e-5)


def test_margin_gives_plain_weights_and_refuses_automix_options():
    model = build(lam_margin=0.49, mix_samples=2)  # every draw is within the margin of 0 or 1
    seen = {}
    orig = model.mix_many

    def spy(x, index, mask):
        seen.setdefault('masks', []).append(mask)
        return orig(x, index, mask)

    model.mix_many = spy
    x, ds = batch()
    model.loss(x, ds)
    mask_bb = seen['masks'][1]
    assert torch.allclose(mask_bb.amax((0, 2, 3)), mask_bb.amin((0, 2, 3)))  # constant per image: plain Mixup
    with pytest.raises(ValueError, match='mask_loss'):
        build(mask_loss=0.1)
    with pytest.raises(ValueError, match='mix_samples'):
        build(mix_samples=1)
