"""SMMix: max-min region mixing and its losses against the official code's recorded output; hooks on stock timm."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from openmix.mixers.geometry import mix_target, smooth_one_hot
from openmix.mixers.smmix import SMMix, SMMixBatch, max_min_region_mix
from openmix.models.label_rules.smmix import smmix_aux_losses
from openmix.registry import MODELS

REF = np.load(Path(__file__).parents[1] / 'fixtures' / 'reference' / 'smmix.npz')


@pytest.mark.parametrize('tag,size,side', [('s224', 224, 14), ('s32', 32, 4)])
def test_region_mixing_equals_official(tag, size, side):
    b = 4
    x0 = (torch.arange(b * 2 * size * size) % 251).float().view(b, 2, size, size)
    attn = torch.from_numpy(REF[f'{tag}_attn'])
    flip = torch.arange(b - 1, -1, -1)
    for s, x_ref, src_ref, tgt_ref in zip(REF[f'{tag}_sides'], REF[f'{tag}_x'], REF[f'{tag}_source_mask'],
                                          REF[f'{tag}_target_mask']):
        mixed, source = max_min_region_mix(x0, attn, flip, (side, side), int(s))
        np.testing.assert_array_equal(mixed.numpy(), x_ref.astype(np.float32), err_msg=f'side {s}')
        np.testing.assert_array_equal(source.numpy().astype(bool), src_ref)
        np.testing.assert_array_equal(~source.numpy().astype(bool), tgt_ref)


def test_call_and_losses_equal_official():
    """``SMMix.__call__`` given its branch and side, and the three loss lines of the official ``engine.py``."""
    b, k, side = 4, 10, 4
    labels = torch.from_numpy(REF['call_labels']).long()
    targets = smooth_one_hot(labels, k, 0.1)
    x0 = (torch.arange(b * 2 * 32 * 32) % 251).float().view(b, 2, 32, 32)
    attn, logits = torch.from_numpy(REF['call_attn']), torch.from_numpy(REF['call_logits'])
    flip = torch.arange(b - 1, -1, -1)
    worst = 0.0
    for i, use in enumerate(REF['call_use']):
        out, tr, sr = (torch.from_numpy(REF[f'call_{n}'][i]) for n in ('outputs', 'target_result', 'source_result'))
        if not use:  # Mixup branch: the area target of its Beta lam (recovered from the mixed pixels)
            x = torch.from_numpy(REF['call_x'][i])
            lam = float(((x - x0.flip(0)) / (x0 - x0.flip(0)))[x0 != x0.flip(0)].median())
            ref_t = torch.from_numpy(REF['call_mixed_target'][i])
            assert torch.allclose(mix_target(targets, flip, torch.full((b,), lam)), ref_t, atol=1e-5)
            continue
        src = REF['call_source_mask'][i]
        s = int(round(np.sqrt(src[0].sum())))
        mixed, source = max_min_region_mix(x0, attn, flip, (side, side), s)
        np.testing.assert_array_equal(mixed.numpy(), REF['call_x'][i])
        np.testing.assert_array_equal(source.numpy().astype(bool), src)
        lam = torch.full((b,), 1 - s * s / side ** 2)
        target = mix_target(targets, flip, lam)
        worst = max(worst, float((target - torch.from_numpy(REF['call_mixed_target'][i])).abs().max()))
        assert torch.allclose(targets, torch.from_numpy(REF['call_target_target'][i]))
        assert torch.allclose(targets.flip(0), torch.from_numpy(REF['call_source_target'][i]))
        z_mix = lam[:, None] * logits + (1 - lam[:, None]) * logits.flip(0)
        assert torch.allclose(z_mix, torch.from_numpy(REF['call_mixed_pred'][i]), atol=1e-6)
        fine, con = smmix_aux_losses(out, tr, sr, targets, targets.flip(0), logits, lam, flip)
        cls = torch.sum(-target * out.log_softmax(-1), -1).mean()
        for ours, key in ((cls, 'loss_cls'), (fine, 'loss_fine'), (con, 'loss_con')):
            worst = max(worst, abs(float(ours) - float(REF[f'call_{key}'][i])))
    assert worst < 1e-5, worst
    assert int(REF['odd_batch_refused']) == 1


def tiny_vit_cfg(num_classes: int = 5, **mixer) -> dict:
    return dict(type='ImageClassifier',
                backbone=dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32, patch_size=8,
                              embed_dim=32, depth=2, num_heads=2),
                head=dict(type='LinearClsHead', num_classes=num_classes),
                mixer=dict(type='SMMix', seed=0, **mixer),
                label_assigner=dict(type='SMMixLabel', num_classes=num_classes), label_smoothing=0.1)


def test_attention_probe_matches_explicit_attention():
    model = MODELS.build(tiny_vit_cfg())
    timm_model = model.backbone.model
    x = torch.randn(3, 3, 32, 32)
    captured = {}
    attn_layer = timm_model.blocks[-1].attn
    h = attn_layer.attn_drop.register_forward_hook(lambda m, i, o: captured.setdefault('attn', i[0].detach()))
    fused = attn_layer.fused_attn
    attn_layer.fused_attn = False  # timm's explicit path, to read the matrix
    model.eval()
    with torch.no_grad():
        model.head(model.extract_feat(x))
    attn_layer.fused_attn = fused
    h.remove()
    expected = captured['attn'][:, :, 1:, 1:].mean((1, 2))
    model.train()
    probe_attn, logits = model.mixer.score(x)
    assert fused and torch.allclose(probe_attn, expected, atol=1e-6)
    assert model.training and not logits.requires_grad and logits.shape == (3, 5)


def test_training_step_adds_the_official_terms():
    torch.manual_seed(0)
    model = MODELS.build(tiny_vit_cfg(switch_prob=1.0))
    assert 'label_assigner.token_head.weight' in dict(model.named_parameters())
    x = torch.randn(4, 3, 32, 32)
    gt = torch.tensor([0, 1, 2, 3])
    seen = {}
    model.label_assigner.register_forward_hook(lambda m, i, o: seen.update(target=o))
    losses = model.loss(x.clone(), dict(gt_label=gt))
    losses['loss'].backward()
    assert model.label_assigner.token_head.weight.grad is not None
    # recompute: the same draw (side), attention and targets give loss_cls + fine + con
    ref = MODELS.build(tiny_vit_cfg(switch_prob=1.0))
    ref.load_state_dict(model.state_dict())
    ref.mixer.set_rng_state(MODELS.build(tiny_vit_cfg(switch_prob=1.0)).mixer.get_rng_state())
    targets = smooth_one_hot(gt, 5, 0.1)
    mixed = ref.mixer(x.clone(), targets)
    assert isinstance(mixed, SMMixBatch) and torch.equal(mixed.lam, 1 - mixed.source_mask.sum(1) / 16)
    ref.label_assigner.prepare(mixed)
    logits = ref.head(ref.extract_feat(mixed.inputs))
    target = ref.label_assigner(targets, mixed)
    assert torch.allclose(target, seen['target'])
    extra = ref.label_assigner.pop_aux_loss(logits)
    total = torch.sum(-target * logits.log_softmax(-1), -1).mean() + extra
    assert torch.allclose(losses['loss'], total, atol=1e-5)
    assert ref.label_assigner.pop_aux_loss(logits) is None  # consumed once


def test_mixup_branch_and_errors():
    model = MODELS.build(tiny_vit_cfg(switch_prob=0.0))
    x = torch.randn(4, 3, 32, 32)
    targets = smooth_one_hot(torch.arange(4), 5, 0.1)
    mixed = model.mixer(x.clone(), targets)
    assert mixed.mode == 'mixup' and not isinstance(mixed, SMMixBatch)
    assert torch.allclose(mixed.inputs, mixed.lam[0] * x + (1 - mixed.lam[0]) * x.flip(0), atol=1e-6)
    loss = model.loss(x.clone(), dict(gt_label=torch.arange(4)))['loss']
    assert torch.isfinite(loss)
    assert SMMix().square_sides(14) == (3, 10)
    with pytest.raises(ValueError, match='num_classes'):
        MODELS.build(dict(type='SMMixLabel'))
    with pytest.raises(ValueError, match='switch_prob'):
        SMMix(switch_prob=2.0)
    cfg = tiny_vit_cfg()
    cfg['mixer']['side'] = 7
    with pytest.raises(ValueError, match='side=7'):
        MODELS.build(cfg)
    cnn = tiny_vit_cfg()
    cnn['backbone'] = dict(type='TimmBackbone', model_name='resnet10t')
    with pytest.raises(ValueError, match='SMMix'):
        MODELS.build(cnn)


@pytest.mark.parametrize('keep', [True, False])
def test_token_head_on_mixup_batches(keep):
    """Mixup batches add no SMMix term; the token head gets zero gradients (default) or none (reference flag)."""
    cfg = tiny_vit_cfg(switch_prob=0.0)
    cfg['label_assigner']['keep_in_graph'] = keep
    model = MODELS.build(cfg)
    x = torch.randn(4, 3, 32, 32)
    plain = MODELS.build(dict(cfg, label_assigner=dict(type='AreaLabel')))
    plain.load_state_dict(model.state_dict(), strict=False)
    loss = model.loss(x.clone(), dict(gt_label=torch.arange(4)))['loss']
    assert torch.allclose(loss, plain.loss(x.clone(), dict(gt_label=torch.arange(4)))['loss'])
    loss.backward()
    grad = model.label_assigner.token_head.weight.grad
    assert (grad is not None and not grad.any()) if keep else grad is None
    assert model.label_assigner.aux_terms == 0
