"""OpenmixOptimWrapperConstructor: weight-decay exemptions, layer-decay scales equal timm's, few groups."""
import pytest
import timm
import torch
from mmengine.optim import build_optim_wrapper
from timm.optim._param_groups import param_groups_layer_decay

from openmix.engine import GuardedOptimWrapper, OpenmixOptimWrapperConstructor
from openmix.registry import MODELS

VIT = dict(model_name='vit_tiny_patch16_224', img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)


def classifier():
    torch.manual_seed(0)
    return MODELS.build(dict(type='ImageClassifier', backbone=dict(type='TimmBackbone', **VIT),
                             head=dict(type='LinearClsHead', num_classes=5)))


def build(model, layer_decay=None, wrapper='OptimWrapper', **optimizer):
    cfg = dict(type=wrapper, optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05, **optimizer),
               constructor='OpenmixOptimWrapperConstructor', paramwise_cfg=dict(layer_decay=layer_decay),
               clip_grad=dict(max_norm=5.0), accumulative_counts=1)
    return build_optim_wrapper(model, cfg)


def settings(optim_wrapper, model):
    names = {id(p): n for n, p in model.named_parameters()}
    groups = optim_wrapper.optimizer.param_groups
    return {names[id(p)]: (g['weight_decay'], g['lr']) for g in groups for p in g['params']}


def test_weight_decay_exemptions_on_tiny_vit():
    model = classifier()
    ow = build(model)
    per_param = settings(ow, model)
    assert set(per_param) == {n for n, _ in model.named_parameters()}
    no_decay = {n for n, (wd, _) in per_param.items() if wd == 0.0}
    expected = {'backbone.model.cls_token', 'backbone.model.pos_embed', 'head.fc.bias'}
    expected |= {n for n, _ in model.named_parameters() if n.endswith('.bias') or '.norm' in n}
    assert no_decay == expected
    assert {n for n, (wd, _) in per_param.items() if wd == 0.05} == {
        'backbone.model.patch_embed.proj.weight', 'head.fc.weight',
        *(f'backbone.model.blocks.{i}.{m}.weight' for i in range(2)
          for m in ('attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2'))}
    assert len(ow.optimizer.param_groups) == 2  # merged: one decayed group, one exempt group
    assert all(lr == 5e-4 for _, lr in per_param.values())
    assert ow.clip_grad_kwargs == dict(max_norm=5.0)


def test_unwraps_model_wrapper_and_builds_openmix_wrapper():
    model = classifier()

    class FakeWrapper(torch.nn.Module):  # stands in for DDP (needs a process group)
        def __init__(self, module):
            super().__init__()
            self.module = module

    ow = build(FakeWrapper(model), wrapper='GuardedOptimWrapper')
    assert isinstance(ow, GuardedOptimWrapper)
    assert settings(ow, model)['backbone.model.cls_token'][0] == 0.0


def test_layer_decay_scales_equal_timm_helper():
    model = classifier()
    ow = build(model, layer_decay=0.75)
    per_param = settings(ow, model)
    # timm's helper on the same network with its own head (the top layer, like our external head)
    torch.manual_seed(0)
    ref_model = timm.create_model(num_classes=5, **VIT)
    groups = param_groups_layer_decay(ref_model, weight_decay=0.05, no_weight_decay_list=ref_model.no_weight_decay(),
                                      layer_decay=0.75)
    ref_names = {id(p): n for n, p in ref_model.named_parameters()}
    ref = {ref_names[id(p)]: (g['weight_decay'], g['lr_scale']) for g in groups for p in g['params']}
    for name, (wd, lr) in per_param.items():
        ref_name = name.replace('backbone.model.', '').replace('head.fc.', 'head.')
        assert (wd, lr / 5e-4) == pytest.approx(ref[ref_name]), name
    # hand check: 4 layers (stem, block 0, block 1 + final norm, head)
    assert per_param['backbone.model.pos_embed'][1] == pytest.approx(5e-4 * 0.75 ** 3)
    assert per_param['backbone.model.blocks.0.attn.qkv.weight'][1] == pytest.approx(5e-4 * 0.75 ** 2)
    assert per_param['backbone.model.norm.weight'][1] == pytest.approx(5e-4 * 0.75)
    assert per_param['head.fc.weight'][1] == pytest.approx(5e-4)
    assert len(ow.optimizer.param_groups) == 8  # (4 scales) x (decay, no decay)


def test_layer_decay_on_bare_timm_model_equals_timm():
    model = timm.create_model(num_classes=5, **VIT)
    ow = build(model, layer_decay=0.65)
    per_param = settings(ow, model)
    groups = param_groups_layer_decay(model, weight_decay=0.05, no_weight_decay_list=model.no_weight_decay(),
                                      layer_decay=0.65)
    ref = {id(p): (g['weight_decay'], g['lr_scale']) for g in groups for p in g['params']}
    for name, p in model.named_parameters():
        assert (per_param[name][0], per_param[name][1] / 5e-4) == pytest.approx(ref[id(p)]), name


def test_rejects_unknown_paramwise_keys_and_no_weight_decay():
    with pytest.raises(KeyError, match='custom_keys'):
        OpenmixOptimWrapperConstructor(dict(optimizer=dict(type='AdamW', lr=1e-3)),
                                       dict(custom_keys={'head': dict(lr_mult=10)}))
    ow = OpenmixOptimWrapperConstructor(dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)))(classifier())
    assert [g['weight_decay'] for g in ow.optimizer.param_groups] == [0.0]  # no weight decay configured: one group
