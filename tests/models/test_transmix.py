"""TransMix: the hooked class attention equals timm's own (non-fused) attention; lam by hand; area labels kept."""
from __future__ import annotations

import pytest
import torch

from openmix.mixers.base import MixedBatch
from openmix.mixers.geometry import mix_target, smooth_one_hot
from openmix.models.class_attention import ClassAttentionProbe
from openmix.models.label_rules import TransMixLabel, box_token_mask
from openmix.registry import MODELS

FAMILIES = {
    'vit': ('vit_tiny_patch16_224', dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4)),
    'deit_distilled': ('deit_tiny_distilled_patch16_224', dict(img_size=32, patch_size=8, embed_dim=32, depth=2,
                                                                num_heads=4)),
    'vit_reg_qknorm': ('vit_tiny_patch16_224', dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4,
                                                     reg_tokens=4, qk_norm=True)),
    'cait': ('cait_xxs24_224', dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4,
                                    depth_token_only=2)),
    'xcit': ('xcit_nano_12_p8_224', dict(img_size=32, embed_dim=32, depth=2, num_heads=4, cls_attn_layers=2)),
}


def _reference_layer(model):
    if hasattr(model, 'blocks_token_only'):
        return model.blocks_token_only[-1].attn, 1
    if hasattr(model, 'cls_attn_blocks'):
        return model.cls_attn_blocks[-1].attn, 1
    return model.blocks[-1].attn, model.num_prefix_tokens


@pytest.mark.parametrize('family', list(FAMILIES))
def test_hook_equals_explicit_attention(family):
    name, kwargs = FAMILIES[family]
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type='TimmBackbone', model_name=name, **kwargs)).eval()
    model = backbone.model
    layer, prefix = _reference_layer(model)
    # make the attention far from uniform so a wrong row/scale/prefix would show
    for p in layer.parameters():
        p.data.mul_(8)
    x = torch.randn(3, 3, 32, 32)
    assert layer.fused_attn, 'the probe must work with fused attention on'
    probe = ClassAttentionProbe(model, name)
    probe.active = True
    backbone(x)
    hooked = probe.pop()
    probe.remove()
    # reference: timm's explicit path, captured at the input of attn_drop (post-softmax, pre-dropout)
    layer.fused_attn = False
    seen = {}
    h = layer.attn_drop.register_forward_pre_hook(lambda m, a: seen.setdefault('attn', a[0]))
    backbone(x)
    h.remove()
    expected = seen['attn'][:, :, 0, prefix:].mean(1)
    n_patches = 16
    assert hooked.shape == expected.shape == (3, n_patches)
    torch.testing.assert_close(hooked, expected, atol=1e-5, rtol=0)
    assert not torch.allclose(hooked, torch.full_like(hooked, hooked.mean().item()), atol=1e-3)


@pytest.mark.parametrize('name,kwargs', [('pvt_v2_b0', dict()),
                                         ('swin_tiny_patch4_window7_224', dict(img_size=32, window_size=2,
                                                                               embed_dim=16, depths=(1, 1, 1, 1),
                                                                               num_heads=(1, 1, 1, 1))),
                                         ('vit_tiny_patch16_224', dict(img_size=32, patch_size=8, depth=1,
                                                                       class_token=False, global_pool='avg'))])
def test_models_without_class_token_fail_at_build_naming_the_model(name, kwargs):
    with pytest.raises(ValueError, match=f"TransMix needs .*{name!r} has no class"):
        MODELS.build(dict(type='ImageClassifier', backbone=dict(type='TimmBackbone', model_name=name, **kwargs),
                          head=dict(type='LinearClsHead', num_classes=4),
                          label_assigner=dict(type='TransMixLabel')))


@pytest.mark.parametrize('family', ['vit', 'cait', 'xcit'])
@pytest.mark.parametrize('pool', ['avg', 'token'])
def test_class_token_models_pooling_their_patches_are_refused(family, pool):
    """A class token the head does not read (global_pool='avg') gives no TransMix label: refused at build."""
    name, kwargs = FAMILIES[family]
    cfg = dict(type='ImageClassifier', backbone=dict(type='TimmBackbone', model_name=name, global_pool=pool, **kwargs),
               head=dict(type='LinearClsHead', num_classes=4), label_assigner=dict(type='TransMixLabel'))
    if pool == 'token':
        assert MODELS.build(cfg).label_assigner.probe is not None
    else:
        with pytest.raises(ValueError, match=f"TransMix: {name!r} has global_pool='avg'.*global_pool='token'"):
            MODELS.build(cfg)


def test_box_token_mask_uses_the_top_left_pixel_of_each_patch():
    # 32x32 image, 4x4 grid (8 px patches): token (i, j) samples pixel (8i, 8j)
    box = torch.tensor([[8, 17, 0, 9], [9, 32, 24, 25], [0, 0, 0, 0]])
    m = box_token_mask(box, (32, 32), (4, 4)).view(3, 4, 4)
    expected0 = torch.zeros(4, 4)
    expected0[1:3, 0:2] = 1  # rows 8 and 16 are in [8, 17); cols 0 and 8 in [0, 9)
    expected1 = torch.zeros(4, 4)
    expected1[2:4, 3] = 1  # rows 16, 24 in [9, 32); col 24 in [24, 25)
    assert torch.equal(m[0], expected0) and torch.equal(m[1], expected1) and not m[2].any()


def test_transmix_lam_by_hand_and_mixup_samples_keep_area_labels():
    assigner = TransMixLabel()
    assigner.grid_size = (2, 2)
    # sample 0: CutMix, box = top-left quadrant of a 4x4 image -> token 0; sample 1: Mixup (no box), lam 0.3
    attn = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]])
    mixed = MixedBatch(inputs=torch.zeros(2, 3, 4, 4), index=torch.tensor([1, 0]), lam=torch.tensor([0.75, 0.3]),
                       mode='elem', box=torch.tensor([[0, 2, 0, 2], [0, 0, 0, 0]]), is_box=torch.tensor([True, False]))
    lam = assigner.transmix_lam(mixed.lam, mixed, attn)
    # lam_B = 0.5 * area (4/16) + 0.5 * (0.1 / 1.0) = 0.175 -> lam_A = 0.825; the Mixup sample keeps 0.3
    torch.testing.assert_close(lam, torch.tensor([0.825, 0.3]))
    targets = smooth_one_hot(torch.tensor([0, 2]), 3, 0.1)
    out = assigner.__class__.forward  # the full path: probe -> lam -> mixed target
    assigner.probe = type('P', (), {'active': True, 'pop': lambda self: attn})()
    y = out(assigner, targets, mixed)
    torch.testing.assert_close(y, mix_target(targets, mixed.index, torch.tensor([0.825, 0.3])))
    torch.testing.assert_close(y.sum(1), torch.ones(2))
    assert assigner.probe.active is False


def test_attn_weight_zero_is_area_label_and_bad_weight_is_refused():
    assigner = TransMixLabel(attn_weight=0.0)
    assigner.grid_size = (2, 2)
    mixed = MixedBatch(inputs=torch.zeros(1, 3, 4, 4), index=torch.tensor([0]), lam=torch.tensor([0.75]),
                       mode='cutmix', box=torch.tensor([[0, 2, 0, 2]]), is_box=torch.tensor([True]))
    torch.testing.assert_close(assigner.transmix_lam(mixed.lam, mixed, torch.rand(1, 4)), torch.tensor([0.75]))
    with pytest.raises(ValueError, match='attn_weight must be in'):
        TransMixLabel(attn_weight=1.5)


def test_classifier_with_transmix_trains_and_captures_only_on_cutmix():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32, patch_size=8,
                      embed_dim=32, depth=2, num_heads=4),
        head=dict(type='LinearClsHead', num_classes=5), label_smoothing=0.1,
        mixer=dict(type='CutMix', alpha=1.0), label_assigner=dict(type='TransMixLabel')))
    data = model.data_preprocessor(dict(inputs=torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8),
                                        data_samples=dict(gt_label=torch.tensor([0, 1, 2, 3]))), True)
    calls = []
    model.label_assigner.transmix_lam = (lambda f: lambda *a: calls.append(1) or f(*a))(
        model.label_assigner.transmix_lam)
    loss = model(**data, mode='loss')['loss']
    loss.backward()
    assert torch.isfinite(loss) and calls == [1]
    assert model.label_assigner.probe.attn is None and not model.label_assigner.probe.active
    from openmix.registry import MIXERS
    model.mixer = MIXERS.build(dict(type='Mixup', alpha=1.0))
    model(**data, mode='loss')
    assert calls == [1]  # Mixup batches: no attention computed, area labels


def test_ca_swin_class_attention_hook_and_transmix():
    torch.manual_seed(0)
    cfg = dict(type='ClassAttentionHeadBackbone', model_name='swin_tiny_patch4_window7_224', img_size=64,
               window_size=2, embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1), ca_blocks=2)
    backbone = MODELS.build(cfg).eval()
    assert backbone.num_features == 128 and 'cls_token' in backbone.no_weight_decay()
    layer = backbone.blocks_token_only[-1].attn
    for p in layer.parameters():
        p.data.mul_(8)
    x = torch.randn(2, 3, 64, 64)
    probe = ClassAttentionProbe(backbone, 'ca-swin')
    probe.active = True
    feat = backbone(x)
    hooked = probe.pop()
    probe.remove()
    layer.fused_attn = False
    seen = {}
    h = layer.attn_drop.register_forward_pre_hook(lambda m, a: seen.setdefault('attn', a[0]))
    torch.testing.assert_close(backbone(x), feat)
    h.remove()
    assert hooked.shape == (2, 4)  # the last stage's 2 x 2 grid at 64 px
    torch.testing.assert_close(hooked, seen['attn'][:, :, 0, 1:].mean(1), atol=1e-5, rtol=0)
    model = MODELS.build(dict(type='ImageClassifier', backbone=cfg, head=dict(type='LinearClsHead', num_classes=3),
                              mixer=dict(type='CutMix', alpha=1.0), label_assigner=dict(type='TransMixLabel')))
    data = model.data_preprocessor(dict(inputs=torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8),
                                        data_samples=dict(gt_label=torch.tensor([0, 2]))), True)
    model(**data, mode='loss')['loss'].backward()
    assert backbone.cls_token.grad is None and model.backbone.cls_token.grad is not None
