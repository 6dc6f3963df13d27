"""TransMix against recorded output of the official code (Beckschen/TransMix, see fixtures/reference/transmix.md).

* ``transmix_label``: our ``TransMixLabel`` gives the official targets on the same attention rows, boxes and labels
  (224 px / 14x14 tokens and 32 px / 4x4 tokens, boxes off the patch grid, zero-area and full-image boxes).
* ``Mixup_transmix.__call__``: given the official draw (switch, lam, box), our Mixup/CutMix mix the same pixels and
  the whole label path (area labels on Mixup batches, TransMix on CutMix batches) gives the official targets.
* The official ``*_return_attn`` ViT's attention (last block, post-softmax, class row, head mean, patches only)
  equals our hooked ``ClassAttentionProbe`` on a stock timm ViT with fused attention, same weights and inputs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from openmix.mixers.base import MixedBatch, MixParams
from openmix.mixers.geometry import mix_target, smooth_one_hot
from openmix.models.class_attention import ClassAttentionProbe
from openmix.models.label_rules import TransMixLabel, box_token_mask
from openmix.registry import MIXERS, MODELS

REF = np.load(Path(__file__).parents[1] / 'fixtures' / 'reference' / 'transmix.npz')
K, SMOOTH = 10, 0.1
ATOL = 1e-6  # float32 rounding: (lam0 + lam1) / 2 vs 1 - (0.5 * area + 0.5 * attn), sums in a different order


class _Probe:
    """Stands in for the class-attention probe: the recorded attention rows."""

    def __init__(self, attn: torch.Tensor) -> None:
        self.active, self.attn = True, attn

    def pop(self) -> torch.Tensor:
        return self.attn


def _label(targets: torch.Tensor, mixed: MixedBatch, attn: torch.Tensor | None) -> torch.Tensor:
    """Our label path as the classifier runs it: prepare (probe on only for box batches), forward."""
    assigner = TransMixLabel()
    assigner.probe = _Probe(attn)
    assigner.prepare(mixed)
    if not assigner.probe.active:
        assert attn is None
    return assigner(smooth_one_hot(targets, K, SMOOTH), mixed)


def _box_batch(b: int, size: int, box, channels: int = 3) -> MixedBatch:
    box = torch.as_tensor(box, dtype=torch.int64).view(1, 4).expand(b, 4)
    area = ((box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])).float() / (size * size)
    return MixedBatch(torch.zeros(b, channels, size, size), torch.arange(b - 1, -1, -1), 1 - area, 'cutmix',
                      box=box, is_box=torch.ones(b, dtype=torch.bool))


@pytest.mark.parametrize('case,size,grid', [('s224', 224, 14), ('s32', 32, 4)])
@pytest.mark.parametrize('grid_known', [True, False], ids=['grid_from_patch_embed', 'grid_inferred'])
def test_transmix_label_equals_official(case, size, grid, grid_known):
    targets = torch.from_numpy(REF[f'{case}_target'])
    b = targets.shape[0]
    for box, attn, expected in zip(REF[f'{case}_boxes'], REF[f'{case}_attn'], REF[f'{case}_out']):
        mixed = _box_batch(b, size, box)
        assigner = TransMixLabel()
        assigner.grid_size = (grid, grid) if grid_known else None
        assigner.probe = _Probe(torch.from_numpy(attn))
        assigner.prepare(mixed)
        y = assigner(smooth_one_hot(targets, K, SMOOTH), mixed)
        torch.testing.assert_close(y, torch.from_numpy(expected), atol=ATOL, rtol=0, msg=f'box {box.tolist()}')
        # and the lam itself: official lam (partner's share) = (box area + attention in box) / 2
        lam = assigner.transmix_lam(mixed.lam, mixed, torch.from_numpy(attn))
        m = box_token_mask(mixed.box, (size, size), (grid, grid))
        a = torch.from_numpy(attn).double()
        lam0 = float((box[1] - box[0]) * (box[3] - box[2])) / size ** 2
        ref_lam_b = (lam0 + (a * m).sum(1) / a.sum(1)) / 2
        zero_area = lam0 == 0  # official lam 0 -> y1; ours keeps lam = 1 (unmixed): the same target
        torch.testing.assert_close(lam.double(), torch.ones(b, dtype=torch.double) if zero_area else 1 - ref_lam_b,
                                   atol=ATOL, rtol=0)


def test_box_token_mask_equals_nn_upsample_nearest_at_integer_patch_ratios():
    # the official mask: nn.Upsample(size=grid) (nearest) of the pixel mask; exact whenever H is a multiple of grid
    rng = np.random.default_rng(0)
    for size, grid in [(224, 14), (32, 4), (384, 24), (224, 28), (32, 8), (64, 16), (96, 6)]:
        for _ in range(40):
            y = np.sort(rng.integers(0, size + 1, 2))
            x = np.sort(rng.integers(0, size + 1, 2))
            pix = torch.zeros(1, 1, size, size)
            pix[..., y[0]:y[1], x[0]:x[1]] = 1
            ref = nn.Upsample(size=grid)(pix).int().view(1, -1).float()
            ours = box_token_mask(torch.tensor([[y[0], y[1], x[0], x[1]]]), (size, size), (grid, grid))
            assert torch.equal(ours, ref), (size, grid, y, x)


def test_mixup_transmix_call_equals_official():
    """Given the official draw of each seeded call, our mixers and label path give its pixels and targets."""
    x0 = torch.from_numpy(REF['call_x0'])
    targets = torch.from_numpy(REF['call_target'])
    b, s = x0.shape[0], x0.shape[-1]
    y1 = smooth_one_hot(targets, K, SMOOTH)
    y2 = y1.flip(0)
    assert REF['call_cutmix'].any() and not REF['call_cutmix'].all()
    for i, (cut, box, attn, area, final) in enumerate(zip(REF['call_cutmix'], REF['call_box'], REF['call_attn'],
                                                        REF['call_area'], REF['call_final'])):
        area, final = torch.from_numpy(area), torch.from_numpy(final)
        # the official area target is y1 * lam + y2 * (1 - lam): read lam off a sample whose partner differs
        j = int(np.flatnonzero(targets.numpy() != targets.flip(0).numpy())[0])
        lam = float((area[j] - y2[j])[targets[j]] / (y1[j] - y2[j])[targets[j]])
        if cut:
            mixer = MIXERS.build(dict(type='CutMix', alpha=1.0, seed=0))
            params = MixParams(np.array([lam]), box[None])
            np.testing.assert_allclose(lam, 1 - (box[1] - box[0]) * (box[3] - box[2]) / s ** 2, atol=1e-6)
        else:
            mixer = MIXERS.build(dict(type='Mixup', alpha=0.8, seed=0))
            params = MixParams(np.array([lam]))
        mixed = mixer.mix_whole_batch(x0.clone(), params)
        if i < REF['call_x'].shape[0]:
            torch.testing.assert_close(mixed.inputs, torch.from_numpy(REF['call_x'][i]), atol=1e-6, rtol=0)
        torch.testing.assert_close(mix_target(y1, mixed.index, mixed.lam), area, atol=ATOL, rtol=0)
        y = _label(targets, mixed, torch.from_numpy(attn) if cut else None)
        torch.testing.assert_close(y, final, atol=ATOL, rtol=0, msg=f'call {i} (cutmix={cut})')


def _seeded_state(keys, shapes, seed: int, qkv_gain: float) -> dict:
    """The recording script's weights: sorted official keys, N(0, 0.3^2) (+1 on LayerNorm weights), last qkv x gain."""
    rng = np.random.default_rng(seed)
    last = max(int(k.split('.')[1]) for k in keys if k.startswith('blocks.'))
    sd = {}
    for k in sorted(keys):
        v = rng.standard_normal(shapes[k]).astype(np.float32) * 0.3
        if 'norm' in k and k.endswith('weight'):
            v += 1
        if k.startswith(f'blocks.{last}.attn.qkv'):
            v *= qkv_gain
        sd[k] = torch.from_numpy(v)
    return sd


@pytest.mark.parametrize('name,cfg,b,seed', [
    ('vit32', dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4), 3, 11),
    ('vit224', dict(img_size=224, patch_size=16, embed_dim=32, depth=1, num_heads=4), 2, 12),
])
def test_class_attention_equals_official_return_attn_vit(name, cfg, b, seed):
    backbone = MODELS.build(dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', **cfg)).eval()
    model = backbone.model
    keys = [str(k) for k in REF[f'{name}_keys']]
    ours = model.state_dict()
    head = {'head.weight': (K, cfg['embed_dim']), 'head.bias': (K,)}  # the official model has a head, ours none
    assert set(keys) == set(ours) | set(head), 'the official ViT and timm ViT state dicts differ in layout'
    shapes = {**{k: tuple(v.shape) for k, v in ours.items()}, **head}
    sd = _seeded_state(keys, shapes, seed, 4.0)
    model.load_state_dict({k: v for k, v in sd.items() if k in ours})
    rng = np.random.default_rng(seed + 100)
    x = torch.from_numpy(rng.standard_normal((b, 3, cfg['img_size'], cfg['img_size'])).astype(np.float32))
    np.testing.assert_array_equal(x.flatten()[:16].numpy(), REF[f'{name}_x_head'])  # same generator stream
    assert model.blocks[-1].attn.fused_attn
    probe = ClassAttentionProbe(model, name)
    probe.active = True
    with torch.no_grad():
        feats = backbone(x)
    attn = probe.pop()
    expected = torch.from_numpy(REF[f'{name}_attn'])
    assert expected.max() > 3 / expected.shape[1]  # far from uniform: a wrong row/head/prefix would show
    torch.testing.assert_close(attn, expected, atol=1e-5, rtol=0)  # measured 1.9e-6
    # the head on our pooled class token gives the official logits: same forward, same class-token readout
    logits = feats @ sd['head.weight'].T + sd['head.bias']
    torch.testing.assert_close(logits, torch.from_numpy(REF[f'{name}_logits']), atol=1e-4, rtol=1e-4)


def test_official_refuses_odd_batches_ours_keeps_the_middle_sample_unmixed():
    assert int(REF['odd_batch_refused']) == 1  # official: assert len(x) % 2 == 0
    mixer = MIXERS.build(dict(type='CutMix', alpha=1.0, seed=0))
    mixed = mixer.mix_whole_batch(torch.randn(3, 1, 32, 32), MixParams(np.array([0.75]), np.array([[0, 16, 0, 16]])))
    y = _label(torch.tensor([0, 1, 2]), mixed, torch.full((3, 16), 1 / 16))
    torch.testing.assert_close(y[1], smooth_one_hot(torch.tensor([1]), K, SMOOTH)[0])
