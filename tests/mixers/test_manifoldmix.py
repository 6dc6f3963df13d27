"""ManifoldMix: the hooked layer's output is mixed exactly once with the drawn (lam, index), nothing else is."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from openmix.mixers.geometry import smooth_one_hot
from openmix.mixers.manifoldmix import ManifoldMix, layer_candidates
from openmix.models.backbones.timm_backbone import TimmBackbone
from openmix.models.label_rules import AreaLabel
from openmix.registry import MODELS


class Holder(nn.Module):
    """Stands in for the classifier: ``attach`` only reads ``.backbone``."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone


def resnet() -> TimmBackbone:
    torch.manual_seed(0)
    return TimmBackbone('resnet18', cifar_stem=True).eval()


def vit(depth: int = 2) -> TimmBackbone:
    torch.manual_seed(0)
    return TimmBackbone('vit_tiny_patch16_224', img_size=32, patch_size=8, depth=depth, embed_dim=48,
                        num_heads=3).eval()


def attached(backbone: TimmBackbone, **kwargs) -> ManifoldMix:
    mixer = ManifoldMix(**kwargs)
    mixer.attach(Holder(backbone))
    return mixer


def expected_draws(seed: int, batch: int, n_layers: int, alpha: float = 2.0):
    """Replays the mixer's draws with an independent generator: prob check, lam, permutation, layer."""
    rng = np.random.default_rng(seed)
    rng.random()
    lam = float(rng.beta(alpha, alpha, size=1)[0])
    index = torch.from_numpy(rng.permutation(batch))
    layer = int(rng.integers(n_layers))
    return lam, index, layer


def test_default_layers_follow_openmixup_and_vit_depth():
    assert attached(resnet()).choices == [None, 'layer1', 'layer2']  # input, after stage 1, after stage 2
    assert layer_candidates(vit(depth=12).model) == ([f'blocks.{i}' for i in range(12)], (0, 3, 6))
    assert attached(vit(depth=2)).choices == [None, 'blocks.0']  # {0, 2 // 4, 2 // 2} = {0, 1}
    assert attached(resnet(), layers=[3, 'layer1', 'input']).choices == ['layer3', 'layer1', None]


def test_resnet_stage_output_is_mixed_once_and_other_stages_are_not():
    bb = resnet()
    m = bb.model
    mixer = attached(bb, layers=[2], seed=0)
    seen = {}
    for name in ('layer1', 'layer2', 'layer3'):  # registered after the mixer's hook: they see its output
        getattr(m, name).register_forward_hook(lambda mod, args, out, name=name: seen.__setitem__(name, out))
    x = torch.randn(4, 3, 16, 16)
    mixed = mixer(x)
    lam, index, _ = expected_draws(0, 4, 1)
    assert mixed.inputs is x and mixed.mode == 'manifoldmix' and mixer.last_layer == 'layer2'
    assert torch.equal(mixed.index, index)
    with torch.no_grad():
        out = bb(x)
        probed = dict(seen)  # the probes' view of the mixed forward (the manual forward below overwrites theirs)
        assert mixer._armed is None  # fired and disarmed
        h1 = m.layer1(m.maxpool(m.act1(m.bn1(m.conv1(x)))))
        h2 = m.layer2(h1)
        h2_mixed = lam * h2 + (1 - lam) * h2[index]
        h3 = m.layer3(h2_mixed)
        ref = m.forward_head(m.layer4(h3), pre_logits=True)
        plain = m.forward_head(m.layer4(m.layer3(h2)), pre_logits=True)
        again = bb(x)
    torch.testing.assert_close(probed['layer1'], h1)
    torch.testing.assert_close(probed['layer2'], h2_mixed)
    torch.testing.assert_close(probed['layer3'], h3)  # not mixed a second time
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(again, plain)  # the next forward is not mixed
    assert (out - plain).abs().max() > 1e-3
    # targets: the same lam and partners through the area label
    y = smooth_one_hot(torch.tensor([0, 1, 2, 3]), 5, 0.1)
    ref_y = torch.stack([y[i] if index[i] == i else lam * y[i] + (1 - lam) * y[index[i]] for i in range(4)])
    torch.testing.assert_close(AreaLabel()(y, mixed), ref_y)
    assert torch.allclose(mixed.lam[index != torch.arange(4)], torch.tensor(lam))


def test_vit_block_output_is_mixed():
    bb = vit(depth=2)
    v = bb.model
    mixer = attached(bb, layers=['blocks.0'], seed=1, pairing='flip')
    x = torch.randn(4, 3, 32, 32)
    mixed = mixer(x)
    rng = np.random.default_rng(1)
    rng.random()
    lam = float(rng.beta(2.0, 2.0))
    index = torch.tensor([3, 2, 1, 0])
    assert torch.equal(mixed.index, index)
    with torch.no_grad():
        out = bb(x)
        h = v.blocks[0](v.norm_pre(v.patch_drop(v._pos_embed(v.patch_embed(x)))))
        h = lam * h + (1 - lam) * h[index]
        ref = v.forward_head(v.norm(v.blocks[1](h)), pre_logits=True)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(mixed.lam, torch.full((4,), lam))


def test_layer_zero_mixes_the_images_and_arms_nothing():
    mixer = attached(resnet(), layers=[0], seed=2)
    x = torch.randn(4, 3, 8, 8)
    mixed = mixer(x.clone())
    lam, index, _ = expected_draws(2, 4, 1)
    torch.testing.assert_close(mixed.inputs, lam * x + (1 - lam) * x[index])
    assert mixer._armed is None and mixer.last_layer == 'input'


def test_same_seed_same_draws_and_different_seed_differs():
    def draws(seed):
        bb = resnet()
        mixer = attached(bb, seed=seed)
        out = []
        for _ in range(6):
            mixed = mixer(torch.randn(5, 3, 8, 8))
            with torch.no_grad():
                bb(mixed.inputs)
            out.append((mixer.last_layer, mixed.lam.tolist(), mixed.index.tolist()))
        return out

    first = draws(3)
    assert first == draws(3)
    assert first != draws(4)
    assert len({layer for layer, _, _ in first}) > 1


def test_rng_state_round_trip_replays_draws():
    mixer = attached(resnet(), layers=[0], seed=5)
    state = mixer.get_rng_state()
    a = mixer(torch.randn(4, 3, 8, 8))
    mixer.set_rng_state(state)
    b = mixer(torch.randn(4, 3, 8, 8))
    assert torch.equal(a.index, b.index) and torch.equal(a.lam, b.lam)


@pytest.mark.parametrize('layers, match', [(['layer9'], "'layer9' is not a module"), ([5], 'entry 5 is out of range'),
                                           ([1.5], 'is not an int or a module name')])
def test_bad_layer_names_the_key_and_the_choices(layers, match):
    with pytest.raises(ValueError, match=match) as err:
        attached(resnet(), layers=layers)
    assert '`mixer.layers`' in str(err.value) and "4 / 'layer4'" in str(err.value)


def test_unknown_family_needs_explicit_layers():
    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())

    with pytest.raises(ValueError, match='set `mixer.layers`'):
        ManifoldMix().attach(Holder(Plain()))
    mixer = ManifoldMix(layers=['0'])
    mixer.attach(Holder(Plain()))
    assert mixer.choices == ['0']


def test_armed_hook_that_never_fired_raises_on_next_call():
    mixer = attached(resnet(), layers=[1], seed=0)
    mixer(torch.randn(2, 3, 8, 8))
    with pytest.raises(RuntimeError, match="'layer1' was armed but .* never ran"):
        mixer(torch.randn(2, 3, 8, 8))
    mixer(torch.randn(2, 3, 8, 8))  # the error disarmed it


def test_prob_zero_and_grad_checkpointing():
    bb = resnet()
    mixer = attached(bb, prob=0.0, seed=0)
    x = torch.randn(2, 3, 8, 8)
    out = mixer(x)
    assert out.mode == 'none' and mixer._armed is None and torch.equal(out.lam, torch.ones(2))
    bb.model.set_grad_checkpointing(True)
    with pytest.raises(RuntimeError, match='gradient checkpointing'):
        mixer(x)


def test_classifier_loss_end_to_end_and_predict_unmixed():
    torch.manual_seed(0)
    model = MODELS.build(dict(type='ImageClassifier', label_smoothing=0.1,
                              backbone=dict(type='TimmBackbone', model_name='resnet18', cifar_stem=True),
                              head=dict(type='LinearClsHead', num_classes=5),
                              mixer=dict(type='ManifoldMix', layers=[1], seed=7)))
    assert model.mixer.choices == ['layer1'] and not any(k.startswith('mixer.') for k in model.state_dict())
    captured = []
    model.mixer.register_forward_hook(lambda mod, args, out: captured.append(out))
    x = torch.randn(4, 3, 16, 16)
    labels = torch.tensor([0, 1, 2, 3])
    model.train()
    loss = model.loss(x, dict(gt_label=labels))['loss']
    mixed = captured[0]
    lam, index, _ = expected_draws(7, 4, 1)
    m = model.backbone.model
    with torch.no_grad():  # train-mode BN on the same batch: the same statistics as in loss()
        h = m.layer1(m.maxpool(m.act1(m.bn1(m.conv1(x)))))
        h = lam * h + (1 - lam) * h[index]
        logits = model.head(m.forward_head(m.layer4(m.layer3(m.layer2(h))), pre_logits=True))
    y = smooth_one_hot(labels, 5, 0.1)
    target = lam * y + (1 - lam) * y[index]
    target[index == torch.arange(4)] = y[index == torch.arange(4)]
    ref = torch.sum(-target * F.log_softmax(logits, -1), -1).mean()
    assert torch.equal(mixed.index, index)
    torch.testing.assert_close(loss, ref)
    loss.backward()
    assert m.conv1.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        scores = model.predict(x)[0]['scores']
        plain = model.head(m.forward_head(m.forward_features(x), pre_logits=True)).softmax(-1)
    torch.testing.assert_close(scores, plain)


def test_deepcopy_hooks_follow_the_copied_mixer():
    """EMA hooks deep-copy the model: the copy's hooks must obey the copy's mixer, not the original's."""
    import copy
    bb = resnet()
    holder = Holder(bb)
    holder.mixer = ManifoldMix(layers=[1], seed=0)
    holder.mixer.attach(holder)
    twin = copy.deepcopy(holder)
    assert twin.mixer._model is twin.backbone.model
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        plain = bb(x)
        twin.mixer(x)
        assert holder.mixer._armed is None and twin.mixer._armed is not None
        torch.testing.assert_close(bb(x), plain)  # the original is not mixed by the copy's draw
        assert not torch.allclose(twin.backbone(x), plain)
        assert twin.mixer._armed is None
