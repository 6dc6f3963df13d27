"""AutoMix / SAMix: MixBlock against a from-scratch reference, the EMA rule, gradient routing, schedules, RNG."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from torch import nn

from openmix.models.automix import (AttrCosineAnnealingHook, AutoMixClassifier, AutoMixMomentumHook, MixBlock,
                                    MixBlockLrHook, SAMixBlock, annealing_cos, ema_momentum, mix_mask_loss,
                                    rescale_lam)
from openmix.registry import HOOKS, MODELS

RESNET = dict(type='TimmBackbone', model_name='resnet18', cifar_stem=True)
TINY_VIT = dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32, patch_size=8, depth=2,
                embed_dim=48, num_heads=3)


def build(backbone=RESNET, mix_block=None, **kwargs) -> AutoMixClassifier:
    cfg = dict(type='AutoMixClassifier', backbone=backbone, head=dict(type='LinearClsHead', num_classes=5),
               mix_block=mix_block or dict(type='MixBlock'), seed=0)
    if backbone is TINY_VIT:
        cfg['mix_layer'] = 'blocks.0'
    cfg.update(kwargs)
    return MODELS.build(cfg)


def batch(b=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, 32, 32, generator=g), dict(gt_label=torch.arange(b) % 5)


# ---------------------------------------------------------------- MixBlock
def reference_mask(block: MixBlock, z, lam, index, scale):
    """OpenMixup's PixelMixBlock.forward written out with einsum from the block's weights."""
    za, zb = z, z[index]
    if block.lam_mul > 0:
        le = rescale_lam(lam, block.lam_mul_k) if block.lam_mul_k >= 0 else lam
        za, zb = za * (1 + le * block.lam_mul), zb * (1 + (1 - le) * block.lam_mul)
    if block.lam_concat:
        za = torch.cat([za, torch.full_like(za[:, :1], lam)], 1)
        zb = torch.cat([zb, torch.full_like(zb[:, :1], 1 - lam)], 1)

    def conv(layer, t):
        out = torch.einsum('oc,bchw->bohw', layer.weight[:, :, 0, 0], t)
        return out if layer.bias is None else out + layer.bias.view(1, -1, 1, 1)

    if isinstance(block.value, nn.Conv2d):
        v = conv(block.value, zb)
    else:  # conv - BN (batch statistics) - ELU - conv
        conv1, bn, _, conv2 = list(block.value)[:4]
        h = conv(conv1, zb)
        mean, var = h.mean((0, 2, 3), keepdim=True), h.var((0, 2, 3), unbiased=False, keepdim=True)
        h = (h - mean) / torch.sqrt(var + bn.eps) * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)
        v = conv(conv2, F.elu(h))
    if block.x_qk_concat:
        za = zb = torch.cat([za, zb], 1)
    q = conv(block.query, za).flatten(2)
    k = conv(block.key if block.key is not None else block.query, zb).flatten(2)
    attn = torch.softmax(torch.einsum('bci,bcj->bij', q, k) / math.sqrt(q.shape[1]), dim=-1)
    m = torch.einsum('bij,bj->bi', attn, v.flatten(1)).view(z.shape[0], 1, *z.shape[2:])
    if block.upsample_mode == 'nearest':
        m = m.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    else:
        m = F.interpolate(m, scale_factor=scale, mode=block.upsample_mode)
    return torch.sigmoid(m)


def test_mixblock_v1_lam_concat_matches_reference():
    torch.manual_seed(0)
    block = MixBlock(in_channels=8, lam_concat=True)
    assert block.query.in_channels == 9 and block.value.in_channels == 9 and block.query.out_channels == 4
    assert block.key is None  # q and k share the query conv
    z, index = torch.randn(3, 8, 4, 4), torch.tensor([2, 0, 1])
    m = block(z, 0.3, index, 4)
    assert m.shape == (3, 1, 16, 16) and m.dtype == torch.float32
    assert (m > 0).all() and (m < 1).all()
    torch.testing.assert_close(m, reference_mask(block, z, 0.3, index, 4), rtol=1e-5, atol=1e-6)
    # nearest upsampling: each 4x4 cell is constant
    assert torch.equal(m, m[:, :, ::4, ::4].repeat_interleave(4, 2).repeat_interleave(4, 3))
    assert not torch.allclose(m, block(z, 0.7, index, 4))  # the lam channel reaches the mask


def test_mixblock_init_and_no_lam_embedding_on_cifar():
    torch.manual_seed(0)
    block = MixBlock(in_channels=256)  # CIFAR AutoMix: no lam embedding at all
    assert block.query.in_channels == 256 and block.value.in_channels == 256
    assert abs(block.query.weight.std().item() - 0.01) < 1e-3 and block.query.bias.abs().max() == 0
    assert abs(block.value.weight.std().item() - 0.01) < 3e-3 and block.value.bias.abs().max() == 0
    z, index = torch.randn(2, 256, 2, 2), torch.tensor([1, 0])
    assert torch.equal(block(z, 0.2, index, 2), block(z, 0.9, index, 2))


def test_samix_block_matches_reference():
    torch.manual_seed(1)
    block = SAMixBlock(in_channels=8, lam_mul_k=0.25, value_neck=dict(dropout=0.0))
    assert block.query.in_channels == 16 and block.key.in_channels == 16 and block.upsample_mode == 'bilinear'
    convs = [m for m in block.value.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.bias) for c in convs] == [(8, 4, None), (4, 1, None)]
    assert isinstance(block.value[1], nn.BatchNorm2d) and isinstance(block.value[2], nn.ELU)
    z, index = torch.randn(4, 8, 4, 4), torch.tensor([3, 2, 1, 0])
    m = block(z, 0.35, index, 4)
    torch.testing.assert_close(m, reference_mask(block, z, 0.35, index, 4), rtol=1e-5, atol=1e-6)
    assert block.mask_loss_mode == 'L1+Variance'
    assert SAMixBlock(in_channels=8).value[-1].p == 0.1  # ImageNet / DeiT dropout


def test_mixblock_runs_in_fp32_under_autocast():
    torch.manual_seed(0)
    block = MixBlock(in_channels=8, lam_concat=True)
    z, index = torch.randn(2, 8, 4, 4).bfloat16(), torch.tensor([1, 0])
    with torch.autocast('cpu', dtype=torch.bfloat16):
        m = block(z, 0.4, index, 2)
        loss = block.mask_loss(m, 0.4)
    assert m.dtype == torch.float32 and loss.dtype == torch.float32
    assert torch.equal(m, block(z.float(), 0.4, index, 2))


def test_mixblock_rejects_conflicting_lam_encodings():
    with pytest.raises(ValueError, match='lam_concat'):
        MixBlock(in_channels=8, lam_concat=True, lam_mul=1.0)
    with pytest.raises(ValueError, match='upsample_mode'):
        MixBlock(in_channels=8, upsample_mode='area')


def test_rescale_lam_by_hand():
    k = 1.25  # lam_mul_k = 0.25
    for lam in (0.0, 0.2, 0.5, 0.9, 1.0):
        assert rescale_lam(lam, 0.25) == pytest.approx((4 / 3 * lam ** 3 - 2 * lam ** 2 + k * lam) / (k - 2 / 3))
    assert rescale_lam(0.0, 0.25) == 0 and rescale_lam(1.0, 0.25) == pytest.approx(1.0)
    assert rescale_lam(0.2, 0.25) == pytest.approx(0.1806667 / 0.5833333, rel=1e-5)


def test_mask_loss_by_hand():
    m = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.9, 0.8, 0.7, 0.6]).view(2, 1, 2, 2)  # mean 0.5, variance 0.075
    assert mix_mask_loss(m, 0.2, 'L1', 0.1).item() == pytest.approx(0.2)  # |1 - 0.5 - 0.2| - 0.1
    assert mix_mask_loss(m, 0.45, 'L1', 0.1).item() == 0.0  # inside the margin
    assert mix_mask_loss(m, 0.2, 'L1+Variance', 0.1).item() == pytest.approx(0.2 - 2 * 0.075)
    assert mix_mask_loss(m, 0.2, 'L2+Variance', 0.1).item() == pytest.approx(0.09 - 0.01 - 2 * 0.075)
    assert mix_mask_loss(m, 0.2, 'Sparsity', 0.1).item() == pytest.approx(1.4 / 8 - 0.1)


# ---------------------------------------------------------------- classifier
def test_ema_after_one_train_step_is_the_momentum_rule():
    model = build()
    model.momentum = 0.9
    pairs = [(model.backbone, model.backbone_k), (model.head, model.head_k), (model.head_one, model.head_one_k)]
    old_k = [[p.detach().clone() for p in k.parameters()] for _, k in pairs]
    for (q, _), old in zip(pairs, old_k):  # k starts as a copy of q
        assert all(torch.equal(a, b) for a, b in zip(q.parameters(), old))
    assert model.head_one.fc.weight.data_ptr() != model.head.fc.weight.data_ptr()
    mb_before = model.mix_block.query.weight.detach().clone()
    optim = OptimWrapper(torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5))
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    log = model.train_step(dict(inputs=x, data_samples=dict(gt_label=torch.arange(4))), optim)
    assert set(log) == {'loss', 'loss_mask', 'loss_mix_k', 'loss_one_q', 'loss_mix_q'}
    assert model._ema_done
    for (q, k), old in zip(pairs, old_k):
        for pq, pk, pk_old in zip(q.parameters(), k.parameters(), old):
            assert torch.equal(pk, 0.9 * pk_old + (1 - 0.9) * pq.detach())
            assert pk.grad is None and not pk.requires_grad
    assert not torch.equal(model.head.fc.weight, old_k[1][0])  # q moved, so the rule was tested on new values
    assert not torch.equal(model.mix_block.query.weight, mb_before)  # the MixBlock is trained


def test_gradients_reach_each_module_only_from_its_own_losses():
    model = build()
    x, ds = batch()
    state = model.get_rng_state()
    losses = model.loss(x, ds)
    mb = list(model.mix_block.parameters())
    bb = list(model.backbone.parameters()) + list(model.head.parameters()) + list(model.head_one.parameters())
    total = sum(losses.values())
    g_total = torch.autograd.grad(total, mb + bb, retain_graph=True)
    g_mb_own = torch.autograd.grad(losses['loss_mix_k'] + losses['loss_mask'], mb, retain_graph=True)
    g_bb_own = torch.autograd.grad(losses['loss_mix_q'] + losses['loss_one_q'], bb, retain_graph=True)
    # the backbone's mixture is detached: the q losses give the MixBlock no gradient, and the k path none to q
    assert all(g is None for g in torch.autograd.grad(losses['loss_mix_q'] + losses['loss_one_q'], mb,
                                                      retain_graph=True, allow_unused=True))
    assert all(g is None for g in torch.autograd.grad(losses['loss_mix_k'] + losses['loss_mask'], bb,
                                                      retain_graph=True, allow_unused=True))
    for a, b in zip(g_total, list(g_mb_own) + list(g_bb_own)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-8)
    assert not any(p.requires_grad for p in model.backbone_k.parameters())
    assert not any(p.requires_grad for p in model.head_k.parameters())

    # manual recomputation of the MixBlock objective: CE of the EMA model on the MixBlock's mixture + mask loss
    model.set_rng_state(state)
    lam_mb, lam_bb, index_mb, index_bb = model.draw(4)
    z = model.mix_features(x)
    mask = model.mix_block(z, lam_mb, index_mb, (4, 4))
    mixed = x * (1 - mask) + x[index_mb] * mask
    y = F.one_hot(ds['gt_label'], 5).float()
    logits = model.head_k(model.backbone_k(mixed))
    ce = -(F.log_softmax(logits, -1) * (lam_mb * y + (1 - lam_mb) * y[index_mb])).sum(-1).mean()
    m_mean = mask.mean()
    mask_loss = 0.1 * torch.clamp((1 - m_mean - lam_mb).abs() - 0.1, min=0)
    torch.testing.assert_close(ce, losses['loss_mix_k'])
    torch.testing.assert_close(mask_loss, losses['loss_mask'])
    for a, b in zip(torch.autograd.grad(ce + mask_loss, mb), g_total[:len(mb)]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-8)


def test_lam_margin_switches_the_backbone_to_mixup():
    model = build()
    torch.manual_seed(0)
    z, index = torch.randn(4, 256, 8, 8), torch.tensor([1, 2, 3, 0])
    for lam_bb in (0.05, 0.08, 0.92, 0.97):  # the margin is inclusive
        m = model.backbone_mask(z, lam_bb, index, 0.5, (4, 4))
        assert m.shape == (4, 1, 32, 32) and torch.equal(m, torch.full_like(m, 1 - lam_bb))
    torch.testing.assert_close(model.backbone_mask(z, 0.5, index, 0.5, (4, 4)),
                               model.mix_block(z, 0.5, index, (4, 4)))

    # through the loss: the backbone term is the CE of plain Mixup with lam_bb
    x, ds = batch()
    index_mb, index_bb = torch.tensor([3, 2, 1, 0]), torch.tensor([1, 0, 3, 2])
    model.draw = lambda b, device='cpu': (0.5, 0.05, index_mb, index_bb)
    losses = model.loss(x, ds)
    y = F.one_hot(ds['gt_label'], 5).float()
    logits = model.head(model.backbone(0.05 * x + 0.95 * x[index_bb]))
    ce = -(F.log_softmax(logits, -1) * (0.05 * y + 0.95 * y[index_bb])).sum(-1).mean()
    torch.testing.assert_close(losses['loss_mix_q'], ce)


@pytest.mark.parametrize('legacy, target', [(False, 0.3), (True, 0.6)])
def test_mask_adjust_rescales_the_backbone_mask_to_lam(legacy, target):
    model = build(TINY_VIT, mask_adjust=1.0, legacy_mask_adjust=legacy)
    torch.manual_seed(0)
    z, index = torch.randn(4, 48, 4, 4), torch.tensor([1, 2, 3, 0])
    raw = model.mix_block(z, 0.3, index, (8, 8))
    m = model.backbone_mask(z, 0.3, index, 0.6, (8, 8))  # lam_bb = 0.3, lam_mb = 0.6
    torch.testing.assert_close((1 - m).mean((1, 2, 3)), torch.full((4,), target), rtol=0, atol=1e-5)
    ratio = (1 - m) / (1 - raw) if target < 0.5 else m / raw  # the larger side is scaled by one factor
    assert torch.allclose(ratio, ratio.flatten(1)[:, :1, None, None].expand_as(ratio), rtol=1e-4)


def test_vit_features_are_the_block_tokens_on_their_grid():
    model = build(TINY_VIT)
    assert model.mix_block.in_channels == 48  # from timm's feature_info of blocks.0
    x, ds = batch()
    ref = model.backbone_k.model.forward_intermediates(x, indices=[0], norm=False, output_fmt='NCHW',
                                                       intermediates_only=True)[0]
    torch.testing.assert_close(model.mix_features(x), ref)
    losses = model.loss(x, ds)
    assert set(losses) == {'loss_mask', 'loss_mix_k', 'loss_one_q', 'loss_mix_q'}
    assert all(torch.isfinite(v) for v in losses.values())


def test_fused_q_pass_and_truncated_k_pass_are_exact_on_a_vit():
    """Without BatchNorm, one 2B forward of q equals two B forwards, and the k pass may stop at ``mix_layer``."""
    fast = build(TINY_VIT)
    slow = build(TINY_VIT, fuse_q=False, truncate_k=False)
    slow.load_state_dict(fast.state_dict())
    assert (fast.fuse_q, fast.truncate_k) == (True, True)
    assert (build().fuse_q, build().truncate_k) == (False, False)  # ResNet: BatchNorm statistics would change
    calls = []
    last = fast.backbone_k.model.blocks[-1].register_forward_hook(lambda *a: calls.append(1))
    x, ds = batch()
    torch.testing.assert_close(fast.mix_features(x), slow.mix_features(x))
    assert calls == []  # the truncated clean pass never reached the last block
    last.remove()
    losses_fast, losses_slow = fast.loss(x, ds), slow.loss(x, ds)
    assert losses_fast.keys() == losses_slow.keys()
    for key in losses_fast:
        torch.testing.assert_close(losses_fast[key], losses_slow[key], rtol=1e-5, atol=1e-6)
    params = [p for p in fast.parameters() if p.requires_grad]
    grads_fast = torch.autograd.grad(sum(losses_fast.values()), params)
    grads_slow = torch.autograd.grad(sum(losses_slow.values()), [p for p in slow.parameters() if p.requires_grad])
    for a, b in zip(grads_fast, grads_slow):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # the k encoder still runs whole for the MixBlock's loss
    assert fast.mix_features(x).shape == (4, 48, 4, 4) and fast._feature is None


def test_unknown_mix_layer_names_the_key():
    with pytest.raises(KeyError, match='mix_layer'):
        build(mix_layer='layer9')


def test_draws_beta_and_replay():
    a, b = build(TINY_VIT, seed=7), build(TINY_VIT, seed=7)
    da, db = a.draw(8), b.draw(8)
    assert da[:2] == db[:2] and torch.equal(da[2], db[2]) and torch.equal(da[3], db[3])
    assert build(TINY_VIT, seed=8).draw(8)[:2] != da[:2]
    state = a.get_rng_state()
    first = a.draw(8)
    a.set_rng_state(state)
    again = a.draw(8)
    assert first[:2] == again[:2] and torch.equal(first[2], again[2]) and torch.equal(first[3], again[3])
    lams = np.array([a.draw(2)[:2] for _ in range(3000)])
    assert abs(lams.mean() - 0.5) < 0.01 and abs(lams.var() - 0.05) < 0.004  # Beta(2, 2): mean 1/2, var 1/20
    assert abs(np.corrcoef(lams[:, 0], lams[:, 1])[0, 1]) < 0.05  # MixBlock and backbone lams are independent
    # a whole training step replays from the saved state
    x, ds = batch()
    state = a.get_rng_state()
    l1 = a.loss(x, ds)
    a.set_rng_state(state)
    l2 = a.loss(x, ds)
    assert all(torch.equal(l1[k], l2[k]) for k in l1)


def test_switch_off_skips_only_the_mixblock_classification_loss():
    x, ds = batch()
    assert 'loss_mix_k' not in build(TINY_VIT, switch_off=1e-9).loss(x, ds)
    losses = build(TINY_VIT, switch_off=1.0).loss(x, ds)
    assert {'loss_mix_k', 'loss_mask'} <= set(losses)


def test_predict_uses_the_configured_encoder_and_head():
    model = build(TINY_VIT).eval()
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(0.01)  # q and k now differ
        x, ds = batch()
        out = model.predict(x, ds)[0]
        torch.testing.assert_close(out['scores'], model.head(model.backbone(x)).softmax(-1))
        assert torch.equal(out['gt_label'], ds['gt_label'])
        model.eval_head = 'head_k'
        torch.testing.assert_close(model.predict(x)[0]['scores'], model.head_k(model.backbone_k(x)).softmax(-1))
        assert not torch.allclose(model.predict(x)[0]['scores'], out['scores'])


def test_init_weights_keeps_k_equal_to_q():
    model = build(TINY_VIT, init_cfg=dict(type='TruncNormal', layer='Linear', std=0.3))
    model.init_weights()
    assert model.head.fc.weight.std() > 0.2  # init_cfg applied ...
    for q, k in [(model.backbone, model.backbone_k), (model.head, model.head_k)]:
        assert all(torch.equal(a, b) for a, b in zip(q.parameters(), k.parameters()))  # ... and copied to k


# ---------------------------------------------------------------- hooks
def test_ema_momentum_schedule_by_hand():
    base, end = 0.999, 0.99999
    assert ema_momentum(0, 1000, base, end) == base and ema_momentum(99, 1000, base, end) == base
    assert ema_momentum(100, 1000, base, end) == pytest.approx(end - (end - base) * 0.975528258, abs=1e-12)
    assert ema_momentum(500, 1000, base, end) == pytest.approx(0.999495, abs=1e-12)
    assert ema_momentum(1000, 1000, base, end) == pytest.approx(end, abs=1e-15)
    assert ema_momentum(50, 1000, base, end, warmup='linear') == pytest.approx(0.999495, abs=1e-12)
    assert ema_momentum(249, 1000, base, end, (0.25, 1.0)) == base
    assert ema_momentum(250, 1000, base, end, (0.25, 1.0)) == pytest.approx(
        end - (end - base) * (math.cos(math.pi / 4) + 1) / 2, abs=1e-12)
    assert ema_momentum(900, 1000, base, end, (0.1, 0.8)) is None  # past the scope: unchanged


class StubModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.base_momentum = self.momentum = 0.999
        self.mask_loss = 0.1
        self._ema_done = True
        self.updates = 0

    def momentum_update(self):
        self._ema_done = True
        self.updates += 1


def test_momentum_hook_sets_m_and_updates_once_per_optimizer_step():
    model = StubModel()
    stepped = [True]
    runner = SimpleNamespace(model=nn.DataParallel(model), iter=0, max_iters=1000,
                             optim_wrapper=SimpleNamespace(should_update=lambda: stepped[0]))
    hook = HOOKS.build(dict(type='AutoMixMomentumHook', end_momentum=0.99999))
    assert isinstance(hook, AutoMixMomentumHook)
    hook.before_run(runner)
    runner.iter = 500
    hook.before_train_iter(runner, 0)
    assert model.momentum == pytest.approx(0.999495, abs=1e-12)
    hook.after_train_iter(runner, 0)  # the model's train_step already updated
    assert model.updates == 0
    model._ema_done = False  # a DDP wrapper bypassed the model's train_step
    hook.after_train_iter(runner, 0)
    assert model.updates == 1 and model._ema_done
    model._ema_done, stepped[0] = False, False  # inside a gradient-accumulation window
    hook.after_train_iter(runner, 0)
    assert model.updates == 1


def test_mask_loss_annealing_closed_form_and_legacy_compounding():
    model = StubModel()
    runner = SimpleNamespace(model=model, iter=0, max_iters=10)
    hook = AttrCosineAnnealingHook('mask_loss', end=0.0)
    hook.before_run(runner)
    for it in (0, 3, 5, 10):
        runner.iter = it
        hook.before_train_iter(runner, 0)
        assert model.mask_loss == pytest.approx(0.1 * (math.cos(math.pi * it / 10) + 1) / 2)
    legacy = AttrCosineAnnealingHook('mask_loss', start=0.1, legacy_compound=True)
    value = 0.1
    for it in range(6):
        runner.iter = it
        legacy.before_train_iter(runner, 0)
        value *= (math.cos(math.pi * it / 10) + 1) / 2
        assert model.mask_loss == pytest.approx(value, rel=1e-12)
    resumed = AttrCosineAnnealingHook('mask_loss', start=0.1, legacy_compound=True)
    resumed.before_train_iter(runner, 0)  # iteration 5 without the history: replayed
    assert model.mask_loss == pytest.approx(value, rel=1e-12)


def test_mixblock_lr_hook_anneals_only_the_mixblock_groups():
    model = build(TINY_VIT)
    constructor = DefaultOptimWrapperConstructor(dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1)),
                                                 dict(custom_keys={'mix_block': dict(lr_mult=0.5)}))
    optim = constructor(model)
    runner = SimpleNamespace(model=model, optim_wrapper=optim, iter=0, max_iters=100, epoch=0, max_epochs=10,
                             train_dataloader=[None] * 10)
    hook = MixBlockLrHook(min_lr=1e-3, warmup='linear', warmup_iters=1, warmup_ratio=1e-5, warmup_by_epoch=True)
    hook.before_train(runner)
    assert len(hook.groups) == len(list(model.mix_block.parameters())) and hook.warmup_iters == 10
    others = [g for g in optim.optimizer.param_groups if all(g is not h for h in hook.groups)]
    for it in (0, 4, 10, 50, 99):
        runner.iter = it
        hook.before_train_iter(runner, 0)
        regular = 1e-3 + (0.05 - 1e-3) * (math.cos(math.pi * it / 100) + 1) / 2
        expected = regular * (1 - (1 - it / 10) * (1 - 1e-5)) if it < 10 else regular
        assert all(g['lr'] == pytest.approx(expected, rel=1e-12) for g in hook.groups)
        assert all(g['lr'] == 0.1 for g in others)
    by_epoch = MixBlockLrHook(min_lr_ratio=0.01, by_epoch=True)
    by_epoch.before_train(runner)
    runner.iter, runner.epoch = 37, 3
    by_epoch.before_train_iter(runner, 0)
    assert hook.groups[0]['lr'] == pytest.approx(annealing_cos(0.05, 5e-4, 0.3), rel=1e-12)

    shared = OptimWrapper(torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1))
    with pytest.raises(ValueError, match='custom_keys'):
        hook.before_train(SimpleNamespace(model=model, optim_wrapper=shared))


def test_runner_trains_with_the_hooks(tmp_path):
    from mmengine.runner import Runner
    cfg = dict(
        model=dict(type='AutoMixClassifier', backbone=TINY_VIT, head=dict(type='LinearClsHead', num_classes=5),
                   mix_block=dict(type='SAMixBlock', value_neck=dict(dropout=0.0)), mix_layer='blocks.0', seed=0),
        work_dir=str(tmp_path),
        train_dataloader=dict(dataset=dict(type='SyntheticImages', num_samples=8, img_size=32, num_classes=5),
                              sampler=dict(type='DefaultSampler', shuffle=False), batch_size=4, num_workers=0,
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=3),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9),
                           paramwise_cfg=dict(custom_keys={'mix_block': dict(lr_mult=1.0)})),
        custom_hooks=[dict(type='AutoMixMomentumHook', end_momentum=0.9999, adjust_scope=(0.0, 1.0)),
                      dict(type='AttrCosineAnnealingHook', attr_name='mask_loss', end=0.0),
                      dict(type='MixBlockLrHook', min_lr=1e-3)],
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=1)),
        default_scope='openmix', randomness=dict(seed=0))
    runner = Runner.from_cfg(cfg)
    model = runner.model
    updates = []
    original = model.momentum_update
    model.momentum_update = lambda: (updates.append(model.momentum), original())[1]
    runner.train()
    # one EMA update per step, with the momentum the hook set before that step
    assert updates == pytest.approx([ema_momentum(i, 3, 0.999, 0.9999, (0.0, 1.0)) for i in range(3)], abs=1e-15)
    assert model.mask_loss == pytest.approx(0.1 * (math.cos(math.pi * 2 / 3) + 1) / 2)
    mb_ids = {id(p) for p in model.mix_block.parameters()}
    lrs = [g['lr'] for g in runner.optim_wrapper.optimizer.param_groups if id(g['params'][0]) in mb_ids]
    assert len(lrs) == len(mb_ids) and lrs == pytest.approx([annealing_cos(0.1, 1e-3, 2 / 3)] * len(lrs))
