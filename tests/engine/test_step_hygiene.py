"""Backbone ``torch.compile`` (``--compile`` / ``compile_backbone``) and channels-last for CNNs, on the CPU."""
import functools

import pytest
import torch

from openmix.engine.step_hygiene import (apply_channels_last, channels_last_default, compile_backbone, compile_options,
                                         compile_unavailable, conv_param_fraction)
from openmix.registry import MODELS

VIT = dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32, patch_size=8, embed_dim=32, depth=2,
           num_heads=2)
CNN = dict(type='TimmBackbone', model_name='resnet18', cifar_stem=True)


def _classifier(backbone: dict, **kw):
    torch.manual_seed(0)
    return MODELS.build(dict(type='ImageClassifier', backbone=backbone, head=dict(type='LinearClsHead', num_classes=5),
                             **kw))


def _batch(n: int = 4, size: int = 32) -> dict:
    g = torch.Generator().manual_seed(1)
    return dict(inputs=torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g),
                data_samples=dict(gt_label=torch.arange(n) % 5))


@functools.lru_cache(maxsize=None)
def _inductor_works() -> str | None:
    """None when torch.compile (inductor) compiles and runs a tiny function here, else why not."""
    reason = compile_unavailable('inductor', torch.device('cpu'))
    if reason:
        return reason
    try:
        torch.compile(lambda x: x * 2 + 1)(torch.ones(3))
    except Exception as exc:  # noqa: BLE001 - no working compiler toolchain: skip, with the reason
        return f'{type(exc).__name__}: {exc}'.splitlines()[0]
    return None


def test_compile_options_parse_modes_and_refuse_unknown_ones():
    assert compile_options(None) is None and compile_options(False) is None
    assert compile_options(True) == {} and compile_options('default') == {}
    assert compile_options('max-autotune') == dict(mode='max-autotune')
    assert compile_options(dict(mode='reduce-overhead', dynamic=False)) == dict(mode='reduce-overhead', dynamic=False)
    with pytest.raises(ValueError, match='compile_backbone.mode=.fast.; valid: default, reduce-overhead'):
        compile_options('fast')
    with pytest.raises(KeyError, match="unknown keys \\['modes'\\]"):
        compile_options(dict(modes='default'))


def test_train_cli_compile_flag_sets_the_config_key(tmp_path):
    from tools.train import parse_args
    from openmix.apis import load_config
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    assert parse_args(['c.py']).compile is None
    assert parse_args(['c.py', '--compile']).compile == 'default'
    args = parse_args([str(root / 'configs' / 'deit_s_baseline.py'), '--compile', 'max-autotune', '--work-dir',
                       str(tmp_path)])
    assert load_config(args).compile_backbone == 'max-autotune'
    with pytest.raises(SystemExit):
        parse_args(['c.py', '--compile', 'fastest'])


def test_compile_keeps_state_dict_keys_and_leaves_other_models_alone():
    model = _classifier(VIT)
    keys = list(model.state_dict())
    assert not compile_backbone(model, None)
    if compile_unavailable('eager'):
        pytest.skip(compile_unavailable('eager'))
    assert compile_backbone(model, dict(backend='eager'))
    assert list(model.state_dict()) == keys  # checkpoints of compiled and eager runs load into each other
    with pytest.raises(ValueError, match='has no `backbone` module'):
        compile_backbone(torch.nn.Linear(2, 2), True)


def _transmix_labels(model, data: dict):
    """The TransMix targets of one CutMix batch, as ``ImageClassifier.loss`` computes them."""
    from openmix.mixers.geometry import smooth_one_hot
    x = model.data_preprocessor(data, training=True)['inputs']
    targets = smooth_one_hot(data['data_samples']['gt_label'], model.num_classes, 0.1)
    mixed = model.mixer(x)
    model.label_assigner.prepare(mixed)
    logits = model.head(model.backbone(mixed.inputs))
    return model.label_assigner(targets, mixed), logits


@pytest.mark.parametrize('backend', ['aot_eager', 'inductor'])
def test_compiled_transmix_step_matches_eager(backend):
    """The class-attention probe's hooks on the last block's qkv are traced into the compiled graph, not skipped:
    TransMix's attention-based labels, the logits and the weights after two SGD steps match the eager model's.
    ``inductor`` is what ``--compile`` uses; ``aot_eager`` the same traced graphs run with eager kernels."""
    reason = _inductor_works() if backend == 'inductor' else compile_unavailable(backend)
    if reason:
        pytest.skip(reason)
    cfg = dict(mixer=dict(type='CutMix', alpha=1.0, seed=3), label_assigner=dict(type='TransMixLabel'))
    eager, compiled = _classifier(VIT, **cfg), _classifier(VIT, **cfg)
    start = {k: v.clone() for k, v in eager.state_dict().items()}
    assert compile_backbone(compiled, True if backend == 'inductor' else dict(backend=backend))
    optims = [torch.optim.SGD(m.parameters(), lr=0.5) for m in (eager, compiled)]
    for step in range(2):  # probe on (box batches) in both steps: the compiled graph is reused
        data = _batch(4)
        out = []
        for model, optim in zip((eager, compiled), optims):
            labels, logits = _transmix_labels(model, data)
            model.criterion(logits, labels).backward()
            optim.step()
            optim.zero_grad()
            out.append((labels, logits.detach()))
        assert compiled.label_assigner.probe.attn is None  # captured by the hook in the compiled forward, then popped
        torch.testing.assert_close(out[1][0], out[0][0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out[1][1], out[0][1], atol=1e-4, rtol=1e-4)
    moved = [k for k, v in compiled.state_dict().items() if not torch.equal(v, start[k])]
    assert 'backbone.model.blocks.1.attn.qkv.weight' in moved and 'head.fc.weight' in moved
    for k, v in eager.state_dict().items():
        torch.testing.assert_close(compiled.state_dict()[k], v, atol=1e-5, rtol=1e-4)


def test_conv_fraction_tells_cnns_from_vits():
    assert conv_param_fraction(MODELS.build(CNN)) > 0.9
    assert conv_param_fraction(MODELS.build(dict(type='TimmBackbone', model_name='deit_tiny_patch16_224'))) < 0.1

def test_channels_last_default_is_off_on_cpu_and_explicit_on_converts_inputs_and_weights():
    auto = _classifier(CNN)
    assert auto.data_preprocessor.channels_last is None
    assert not apply_channels_last(auto) and auto.data_preprocessor.channels_last is False
    assert auto.backbone.model.conv1.weight.is_contiguous()

    on = _classifier(CNN, data_preprocessor=dict(type='ClsDataPreprocessor', channels_last=True))
    assert apply_channels_last(on)
    w = on.backbone.model.conv1.weight
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    x = on.data_preprocessor(_batch(2), training=True)['inputs']
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    # same numbers either way: a layout, not a different computation
    off = _classifier(CNN, data_preprocessor=dict(type='ClsDataPreprocessor', channels_last=False))
    apply_channels_last(off)
    with torch.no_grad():
        on.eval(), off.eval()
        a = on(on.data_preprocessor(_batch(2))['inputs'])
        b = off(off.data_preprocessor(_batch(2))['inputs'])
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_channels_last_auto_rule_picks_cnns_on_cuda_only():
    cnn, vit = MODELS.build(CNN), MODELS.build(VIT)
    assert channels_last_default(cnn, torch.device('cuda'))
    assert not channels_last_default(vit, torch.device('cuda'))
    assert not channels_last_default(cnn, torch.device('cpu'))


def test_compiled_backbone_keeps_manifoldmix_hooks():
    """ManifoldMix mixes inside the backbone through forward hooks armed per step: the compiled backbone runs them
    (same loss as eager on every step, whichever block is drawn)."""
    if compile_unavailable('aot_eager'):
        pytest.skip(compile_unavailable('aot_eager'))
    cfg = dict(mixer=dict(type='ManifoldMix', alpha=2.0, layers=[1, 2], seed=0))
    eager, compiled = _classifier(VIT, **cfg), _classifier(VIT, **cfg)
    compile_backbone(compiled, dict(backend='aot_eager'))
    for _ in range(3):
        data = _batch(4)
        losses = [m.loss(m.data_preprocessor(data, training=True)['inputs'], data['data_samples'])['loss']
                  for m in (eager, compiled)]
        assert compiled.mixer.last_layer == eager.mixer.last_layer != 'input'
        torch.testing.assert_close(losses[1], losses[0], atol=1e-5, rtol=1e-5)
