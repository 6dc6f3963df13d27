"""TL-Align (TLAlignLabel) against recorded output of the official code (Euphoria16/TL-Align, see
fixtures/reference/tl_align.md), and its invariants.

* Reference: the official ``TL_AlignMix`` token box and ``VisionTransformer(x, label_embed)`` on a 3-block ViT; our
  hooked stock timm ViT (fused attention on) with the same weights, images and boxes gives the same logits and the same
  traced class-token label.
* The traced label equals explicit tracing of full ``(N, K)`` labels with materialised attention, for boxes off the
  patch grid too.
* Mixup batches keep area labels (no tracing); a sample paired with itself stays unmixed; targets sum to one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from openmix.mixers import CutMix, MixedBatch
from openmix.mixers.geometry import mix_target, smooth_one_hot
from openmix.models.label_rules import TLAlignLabel
from openmix.models.label_rules.tl_align import box_token_share
from openmix.registry import MODELS

REF = np.load(Path(__file__).parents[1] / 'fixtures' / 'reference' / 'tl_align.npz')
K, SMOOTH, S, P = 10, 0.1, 48, 8


def _backbone(depth: int = 3, dim: int = 32, heads: int = 2, img: int = S, patch: int = P, **kw):
    return MODELS.build(dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=img, patch_size=patch,
                             embed_dim=dim, depth=depth, num_heads=heads, mlp_ratio=2.0, **kw))


def _ref_backbone():
    bb = _backbone()
    sd = {k[2:]: torch.from_numpy(v.astype(np.float32)) for k, v in REF.items() if k.startswith('w.')}
    head = nn.Linear(32, K)
    head.load_state_dict({'weight': sd.pop('head.weight'), 'bias': sd.pop('head.bias')})
    bb.model.load_state_dict(sd)
    return bb.eval(), head


def _box_batch(x: torch.Tensor, box_px) -> MixedBatch:
    b = x.shape[0]
    box = torch.as_tensor(box_px, dtype=torch.int64).view(1, 4).expand(b, 4)
    index = torch.arange(b - 1, -1, -1)
    area = ((box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])).float() / (x.shape[-2] * x.shape[-1])
    return MixedBatch(x, index, 1 - area, 'cutmix', box=box, is_box=torch.ones(b, dtype=torch.bool))


def test_tl_align_equals_official():
    bb, head = _ref_backbone()
    assert all(blk.attn.fused_attn for blk in bb.model.blocks)  # stays fused: the hooks recompute from q/k
    rule = TLAlignLabel()
    rule.attach(bb)
    worst = 0.0
    for it in range(REF['x'].shape[0]):
        x = torch.from_numpy(REF['x'][it].astype(np.float32))
        y = torch.from_numpy(REF['y'][it])
        yl, yh, xl, xh = (int(v) * P for v in REF['token_box'][it])
        # our CutMix pastes the same pixels as the official token box (flip pairing)
        x = CutMix(seed=0).mix_batch(x, torch.arange(x.shape[0] - 1, -1, -1), _params((yl, yh, xl, xh)))
        mixed = _box_batch(x, (yl, yh, xl, xh))
        rule.prepare(mixed)
        assert rule.active
        with torch.no_grad():
            logits = head(bb(mixed.inputs))
        target = rule(smooth_one_hot(y, K, SMOOTH), mixed)
        torch.testing.assert_close(logits, torch.from_numpy(REF['logits'][it]), atol=2e-5, rtol=0)
        # the reference's initial class label is the area target
        torch.testing.assert_close(mix_target(smooth_one_hot(y, K, SMOOTH), mixed.index, mixed.lam),
                                   torch.from_numpy(REF['label_init'][it][:, 0]), atol=1e-7, rtol=0)
        ref = torch.from_numpy(REF['target'][it])
        worst = max(worst, (target - ref).abs().max().item())
    assert worst < 1e-6, worst


def _params(box):
    from openmix.mixers.base import MixParams
    return MixParams(np.array([0.5]), np.array([box], dtype=np.int64))


def _explicit_trace(bb, x, m0, num_prefix=1):
    """Full (B, N) share traced with materialised attention (timm's non-fused path), block by block."""
    model = bb.model
    with torch.no_grad():
        h = model._pos_embed(model.patch_embed(x))
        m = m0.clone()
        for blk in model.blocks:
            a = blk.attn
            z = blk.norm1(h)
            b, n, c = z.shape
            qkv = a.qkv(z).reshape(b, n, 3, a.num_heads, -1).permute(2, 0, 3, 1, 4)
            q, k = a.q_norm(qkv[0]), a.k_norm(qkv[1])
            attn = ((q * a.scale) @ k.transpose(-2, -1)).softmax(-1).mean(1)
            m = 0.5 * (attn @ m[..., None])[..., 0] + 0.5 * m
            h = blk(h)
    return m


@pytest.mark.parametrize('box', [(3, 29, 5, 40), (0, 48, 0, 48), (8, 16, 8, 24)], ids=['off_grid', 'full', 'on_grid'])
def test_traced_label_equals_explicit(box):
    torch.manual_seed(0)
    bb = _backbone().eval()
    rule = TLAlignLabel()
    rule.attach(bb)
    x = torch.randn(4, 3, S, S)
    mixed = _box_batch(x, box)
    rule.prepare(mixed)
    m0 = rule.share.clone()
    with torch.no_grad():
        bb(x)
    traced = rule.share.clone()
    ref = _explicit_trace(bb, x, m0)
    torch.testing.assert_close(traced, ref, atol=1e-6, rtol=0)
    targets = smooth_one_hot(torch.tensor([0, 1, 2, 3]), K, SMOOTH)
    out = rule(targets, mixed)
    torch.testing.assert_close(out.sum(1), torch.ones(4))
    if box == (0, 48, 0, 48):  # every token from the partner: the target is the partner's label
        torch.testing.assert_close(out, targets.flip(0))
    # the start: fraction of each 8x8 patch inside the box
    share = box_token_share(torch.tensor([box]), (S, S), (6, 6)).view(6, 6)
    pix = torch.zeros(S, S)
    pix[box[0]:box[1], box[2]:box[3]] = 1
    torch.testing.assert_close(share, pix.view(6, 8, 6, 8).mean((1, 3)))


def test_mixup_batches_keep_area_labels_and_self_pairs_stay_unmixed():
    bb = _backbone(depth=1)
    rule = TLAlignLabel()
    rule.attach(bb)
    x = torch.randn(3, 3, S, S)
    targets = smooth_one_hot(torch.tensor([0, 1, 2]), K, SMOOTH)
    mixup = MixedBatch(x, torch.tensor([2, 1, 0]), torch.tensor([0.7, 1.0, 0.7]), 'mixup')
    rule.prepare(mixup)
    assert not rule.active  # no tracing on Mixup batches: a constant share is a fixed point
    torch.testing.assert_close(rule(targets, mixup), mix_target(targets, mixup.index, mixup.lam))
    mixed = _box_batch(x, (0, 24, 0, 24))
    mixed.lam = torch.where(mixed.index == torch.arange(3), torch.ones(3), mixed.lam)
    rule.prepare(mixed)
    bb(x)
    out = rule(targets, mixed)
    torch.testing.assert_close(out[1], targets[1])  # the middle sample of an odd batch is paired with itself


def test_classifier_step_and_refusals():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32, patch_size=8,
                      embed_dim=32, depth=2, num_heads=2),
        head=dict(type='LinearClsHead', num_classes=K), label_smoothing=0.1,
        mixer=dict(type='RandomMix', mixers=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)],
                   switch_prob=0.5, seed=0),
        label_assigner=dict(type='TLAlignLabel')))
    for _ in range(4):
        loss = model.loss(torch.randn(4, 3, 32, 32), dict(gt_label=torch.tensor([0, 1, 2, 3])))['loss']
        assert torch.isfinite(loss)
        loss.backward()
    with pytest.raises(ValueError, match='TL-Align traces token labels'):
        TLAlignLabel().attach(nn.Sequential(nn.Conv2d(3, 4, 3)))
    with pytest.raises(ValueError, match='pool must be'):
        TLAlignLabel(pool='max')


def test_patch_aligned_mask_starts_as_the_box():
    """A pixel mask on the patch grid (MaskMix, FMix kept per sample) gives the same token start as the box."""
    from openmix.models.label_rules.tl_align import token_partner_share
    x = torch.zeros(2, 3, S, S)
    boxed = _box_batch(x, (8, 24, 16, 40))
    mask = torch.zeros(2, 1, S, S)
    mask[..., 8:24, 16:40] = 1
    masked = MixedBatch(x, boxed.index, boxed.lam, 'maskmix', mask=mask)
    torch.testing.assert_close(token_partner_share(masked, (6, 6)), token_partner_share(boxed, (6, 6)))
