import numpy as np
import pytest
import torch
import torch.nn.functional as F

from openmix.models.data_preprocessor import BatchRandomErasing, ClsDataPreprocessor
from openmix.registry import MODELS

TINY_VIT = dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32, patch_size=8, depth=2,
                embed_dim=48, num_heads=3)


def build(**kwargs):
    cfg = dict(type='ImageClassifier', backbone=TINY_VIT, head=dict(type='LinearClsHead', num_classes=5))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def batch(b=4, size=32):
    g = torch.Generator().manual_seed(0)
    return dict(inputs=torch.randint(0, 256, (b, 3, size, size), dtype=torch.uint8, generator=g),
                data_samples=dict(gt_label=torch.arange(b) % 5))


def test_preprocessor_normalises_exactly():
    pre = ClsDataPreprocessor(mean=(10, 20, 30), std=(2, 4, 5))
    data = batch()
    out = pre(data, training=True)
    ref = (data['inputs'].float() - torch.tensor([10., 20., 30.]).view(1, 3, 1, 1)) / torch.tensor(
        [2., 4., 5.]).view(1, 3, 1, 1)
    torch.testing.assert_close(out['inputs'], ref)
    assert torch.equal(out['data_samples']['gt_label'], data['data_samples']['gt_label'])


def test_random_erasing_boxes_follow_timm_rule():
    erase = BatchRandomErasing(prob=1.0, mode='const', seed=0)
    boxes = erase.boxes(4000, (32, 48))
    h, w = boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]
    erased = h * w > 0
    assert erased.mean() > 0.95  # a box fits within 10 attempts almost always
    assert (h[erased] < 32).all() and (w[erased] < 48).all()
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] <= 32).all() and (boxes[:, 3] <= 48).all()
    area = (h * w)[erased] / (32 * 48)
    # U(0.02, 1/3) of the area; rounding h and w to integers moves it a little
    assert 0.012 <= area.min() < 0.03 and 0.3 < area.max() <= 0.37
    aspect = (h / np.maximum(w, 1))[erased & (h > 4) & (w > 4)]
    assert aspect.min() > 0.3 / 1.5 and aspect.max() < 1.5 / 0.3


def test_random_erasing_applies_boxes_and_prob_zero_keeps_input():
    x = torch.ones(3, 3, 16, 16)
    erase = BatchRandomErasing(prob=1.0, mode='const', seed=1)
    state = erase.rng.bit_generator.state
    boxes = erase.boxes(3, (16, 16))
    erase.rng.bit_generator.state = state
    out = erase(x)
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        assert (out[i] == 0).sum().item() == 3 * (y1 - y0) * (x1 - x0)
        assert (out[i, :, y0:y1, x0:x1] == 0).all()
    assert torch.equal(BatchRandomErasing(prob=0.0, seed=0)(x), x)


def test_random_erasing_pixel_noise_fills_only_the_boxes():
    """Pixel mode: inside each box i.i.d. N(0, 1) noise (drawn for the erased images only), outside untouched; the
    input tensor is not modified."""
    torch.manual_seed(0)  # the noise comes from torch's generator, the boxes from the eraser's own
    x = torch.full((300, 3, 20, 28), 5.0)
    erase = BatchRandomErasing(prob=0.5, mode='pixel', seed=2)
    state = erase.rng.bit_generator.state
    boxes = erase.boxes(300, (20, 28))
    erase.rng.bit_generator.state = state
    out = erase(x)
    assert torch.equal(x, torch.full_like(x, 5.0))
    noise = []
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        outside = torch.ones(20, 28, dtype=torch.bool)
        outside[y0:y1, x0:x1] = False
        assert (out[i][:, outside] == 5.0).all()
        noise.append(out[i, :, y0:y1, x0:x1].flatten())
    noise = torch.cat(noise)
    assert 0.3 < (boxes[:, 1] > boxes[:, 0]).mean() < 0.7 and (noise != 5.0).all()
    assert abs(noise.mean().item()) < 0.02 and abs(noise.std().item() - 1) < 0.02  # > 10^4 values
    # different images get different noise (no block shared between them)
    first = [out[i, 0, y0, x0].item() for i, (y0, y1, x0, x1) in enumerate(boxes) if y1 > y0]
    assert len(set(first)) == len(first)


def test_loss_without_mixer_is_smoothed_ce():
    model = build(label_smoothing=0.1)
    data = model.data_preprocessor(batch(), True)
    loss = model(**data, mode='loss')['loss']
    logits = model(data['inputs'], mode='tensor')
    ref = F.cross_entropy(logits, data['data_samples']['gt_label'], label_smoothing=0.1)
    torch.testing.assert_close(loss, ref)


def test_loss_with_mixer_uses_mixed_inputs_and_area_labels():
    mixer = dict(type='Mixup', alpha=1.0, seed=5)
    model = build(label_smoothing=0.1, mixer=mixer)
    data = model.data_preprocessor(batch(), True)
    loss = model(**{k: (v.clone() if torch.is_tensor(v) else v) for k, v in data.items()}, mode='loss')['loss']
    ref_mixer = MODELS.build(dict(type='ImageClassifier', backbone=TINY_VIT,
                                  head=dict(type='LinearClsHead', num_classes=5), mixer=mixer)).mixer
    mixed = ref_mixer(data['inputs'].clone())
    logits = model(mixed.inputs, mode='tensor')
    labels = data['data_samples']['gt_label']
    lam = mixed.lam[0]
    ref = lam * F.cross_entropy(logits, labels, label_smoothing=0.1) + (1 - lam) * F.cross_entropy(
        logits, labels[mixed.index], label_smoothing=0.1)
    torch.testing.assert_close(loss, ref)


def test_predict_returns_probabilities_and_labels():
    model = build()
    out = model.val_step(batch())
    assert len(out) == 1
    torch.testing.assert_close(out[0]['scores'].sum(1), torch.ones(4))
    assert torch.equal(out[0]['gt_label'], torch.arange(4))


def test_no_weight_decay_names_exist_in_model():
    model = build()
    names = dict(model.named_parameters())
    assert {'backbone.model.cls_token', 'backbone.model.pos_embed'} <= model.no_weight_decay()
    assert {'backbone.model.cls_token', 'backbone.model.pos_embed'} <= set(names)


def test_bad_backbone_name_and_pretrained_download_are_refused():
    with pytest.raises(KeyError, match="backbone.model_name='deit_smal_patch16_224'.*deit_small_patch16_224"):
        build(backbone=dict(type='TimmBackbone', model_name='deit_smal_patch16_224'))
    with pytest.raises(ValueError, match='does not download'):
        build(backbone=dict(TINY_VIT, pretrained=True))
