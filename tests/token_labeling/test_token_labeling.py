"""Token labeling: label-map storage round trips, crop -> token targets (both box orders), MixToken, the loss."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from openmix.registry import MODELS
from openmix.token_labeling import (PackedLabelMaps, box_tokens, dense_score_maps, image_key, load_official,
                                    mix_tokens, mixtoken_box, save_official, token_targets, unmix_token_outputs)


def _position_map(size=4, k=2, num_classes=20):
    """Top-1 class at (r, c) is r * size + c with logit 20; the second entry is class 19 with logit 1."""
    idx = torch.zeros(1, k, size, size, dtype=torch.long)
    idx[0, 0] = torch.arange(size * size).view(size, size)
    idx[0, 1] = num_classes - 1
    val = torch.zeros(1, k, size, size)
    val[0, 0], val[0, 1] = 20.0, 1.0
    return val, idx


def test_crop_lands_on_the_expected_tokens_in_both_box_orders():
    val, idx = _position_map()
    crop = torch.tensor([[0.5, 0.0, 0.5, 0.5]])  # top half-way down, left edge: rows 2-3, cols 0-1 of the map
    tokens, cls = token_targets(val, idx, crop, 20, (2, 2))
    assert tokens.argmax(-1).tolist() == [[8, 9, 12, 13]]
    legacy, _ = token_targets(val, idx, crop, 20, (2, 2), legacy_box_order=True)
    assert legacy.argmax(-1).tolist() == [[2, 3, 6, 7]]  # the official code reads the crop transposed
    # exact values: each token's sample sits on a map pixel centre, softmax over all 20 classes (zeros included)
    dense = torch.zeros(20)
    dense[8], dense[19] = 20.0, 1.0
    torch.testing.assert_close(tokens[0, 0], dense.softmax(0))
    torch.testing.assert_close(tokens.sum(-1), torch.ones(1, 4))
    assert cls.shape == (1, 20) and cls.sum().item() == pytest.approx(1.0)
    smoothed, _ = token_targets(val, idx, crop, 20, (2, 2), smoothing=0.1)
    torch.testing.assert_close(smoothed, tokens * 0.9 + 0.1 / 20)


def test_dense_score_maps_scatter_topk():
    val, idx = _position_map(size=2, num_classes=5)
    dense = dense_score_maps(val, idx, 5)
    assert dense.shape == (1, 5, 2, 2)
    assert dense[0, :, 1, 0].tolist() == [0.0, 0.0, 20.0, 0.0, 1.0]


def test_official_maps_round_trip(tmp_path):
    val = torch.randn(5, 18, 18)
    idx = torch.randint(0, 1000, (5, 18, 18))
    path = tmp_path / 'n01440764' / 'n01440764_10026.pt'
    save_official(path, val, idx)
    raw = torch.load(path, weights_only=True)
    assert raw.dtype == torch.float16 and raw.shape == (2, 5, 18, 18)
    v, i = load_official(path)
    torch.testing.assert_close(v, val.half().float())
    assert torch.equal(i, idx)
    assert image_key('/data/train/n01440764/n01440764_10026.JPEG') == 'n01440764/n01440764_10026'
    with pytest.raises(FileNotFoundError, match='gen_token_labels.py'):
        load_official(tmp_path / 'missing.pt')


def test_packed_maps_round_trip_and_resume(tmp_path):
    keys = [f'c{i}/img{i}' for i in range(6)]
    store = PackedLabelMaps.create(tmp_path, 'train', keys, k=3, hw=(4, 4), num_classes=1000, teacher='resnet18')
    assert store.pending() == list(range(6))
    val, idx = torch.randn(2, 3, 4, 4), torch.randint(0, 1000, (2, 3, 4, 4))
    store.write([1, 4], val, idx)
    # reopening (a resumed generation) keeps the written rows and only lists the others
    again = PackedLabelMaps.create(tmp_path, 'train', keys, k=3, hw=(4, 4), num_classes=1000, teacher='resnet18')
    assert again.pending() == [0, 2, 3, 5]
    reader = PackedLabelMaps(tmp_path, 'train')
    v, i = reader['c4/img4']
    torch.testing.assert_close(v, val[1].half().float())
    assert torch.equal(i, idx[1])
    with pytest.raises(KeyError, match='never written'):
        reader['c0/img0']
    with pytest.raises(KeyError, match="no token-label map for image 'nope'"):
        reader['nope']
    with pytest.raises(FileExistsError, match='describes other maps'):
        PackedLabelMaps.create(tmp_path, 'train', keys, k=5, hw=(4, 4), num_classes=1000)
    meta = json.loads((tmp_path / 'train.index.json').read_text())
    assert meta['keys'] == keys and meta['teacher'] == 'resnet18'
    # bytes per image: k * H * W * (2 + 4) + 1
    size = sum((tmp_path / f'train.{s}').stat().st_size for s in ('values.f16', 'indices.i32', 'done.u8'))
    assert size == 6 * (3 * 16 * 6 + 1)


def test_mixtoken_box_lam_and_swap_back_restores_token_targets():
    rng = np.random.default_rng(0)
    for _ in range(20):
        box, lam = mixtoken_box(rng, (14, 14))
        inside = box_tokens(box, (14, 14))
        assert lam == pytest.approx(1 - inside.sum().item() / 196)
        assert (box[1] - box[0]) % 2 == 0 or box[0] == 0 or box[1] == 14  # even sides unless clipped
    tokens = torch.randn(4, 196, 8)
    box, lam = mixtoken_box(np.random.default_rng(3), (14, 14))
    inside = box_tokens(box, (14, 14))
    mixed = mix_tokens(tokens, inside)
    assert torch.equal(mixed[:, ~inside], tokens[:, ~inside]) and torch.equal(mixed[:, inside], tokens.flip(0)[:, inside])
    # a per-token model (identity here): after swap-back each output lines up with its own image's target
    assert torch.equal(unmix_token_outputs(mixed, inside), tokens)
    targets = torch.softmax(torch.randn(4, 196, 10), -1)
    assert torch.equal(unmix_token_outputs(mix_tokens(targets, inside), inside), targets)


def test_token_label_loss_by_hand():
    loss = MODELS.build(dict(type='TokenLabelLoss', cls_weight=1.0, dense_weight=0.5))
    cls_logits = torch.tensor([[2.0, 0.0]])
    tok_logits = torch.tensor([[[0.0, 0.0], [1.0, -1.0]]])
    cls_t = torch.tensor([[0.75, 0.25]])
    tok_t = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    ls = lambda z: z - torch.logsumexp(z, -1, keepdim=True)  # noqa: E731
    cls_ce = -(cls_t * ls(cls_logits)).sum()
    tok_ce = (-(tok_t[0, 0] * ls(tok_logits[0, 0])).sum() - (tok_t[0, 1] * ls(tok_logits[0, 1])).sum()) / 2
    expected = cls_ce + 0.5 * tok_ce
    assert loss(cls_logits, tok_logits, cls_t, tok_t).item() == pytest.approx(expected.item(), rel=1e-6)
    # hand numbers: log-softmax([2, 0]) = [-0.1269, -2.1269]; [0, 0] -> -0.6931; [1, -1] -> [-0.1269, -2.1269]
    assert expected.item() == pytest.approx(0.75 * 0.126928 + 0.25 * 2.126928 + 0.5 * (0.693147 + 2.126928) / 2,
                                            rel=1e-5)


def _tl_model(**kw):
    torch.manual_seed(0)
    return MODELS.build(dict(type='TokenLabelClassifier', seed=0,
                             backbone=dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32,
                                           patch_size=8, embed_dim=32, depth=1, num_heads=2),
                             head=dict(type='LinearClsHead', num_classes=6), **kw))


def _tl_batch(b=4):
    g = torch.Generator().manual_seed(1)
    return dict(inputs=torch.randint(0, 256, (b, 3, 32, 32), dtype=torch.uint8, generator=g),
                data_samples=dict(gt_label=torch.arange(b) % 6, label_values=torch.randn(b, 3, 5, 5, generator=g),
                                  label_indices=torch.randint(0, 6, (b, 3, 5, 5), generator=g),
                                  crop=torch.tensor([[0.0, 0.0, 1.0, 1.0]] * b)))


def test_mixtoken_in_the_model_mixes_embeddings_and_aligns_targets():
    model = _tl_model(loss=dict(type='TokenLabelLoss', cls_weight=1.0, dense_weight=1.0))
    data = model.data_preprocessor(_tl_batch(), True)
    seen = {}
    model.backbone.model.patch_embed.register_forward_hook(lambda m, a, out: seen.setdefault('mixed', out.detach()))
    calls = []
    model.criterion.register_forward_hook(lambda m, a, out: calls.append(a))
    box, lam = mixtoken_box(np.random.default_rng(0), (4, 4))  # the model's generator has seed 0 too
    inside = box_tokens(box, (4, 4))
    loss = model(**data, mode='loss')['loss']
    loss.backward()
    raw = model.backbone.model.patch_embed.proj(data['inputs']).flatten(2).transpose(1, 2)
    torch.testing.assert_close(seen['mixed'], mix_tokens(raw, inside).detach())
    cls_logits, aux, cls_t, tok_t = calls[0]
    tokens, teacher = token_targets(data['data_samples']['label_values'], data['data_samples']['label_indices'],
                                    data['data_samples']['crop'], 6, (4, 4), 0.1)
    torch.testing.assert_close(cls_t, lam * teacher + (1 - lam) * teacher.flip(0))
    torch.testing.assert_close(tok_t, tokens)  # token targets are never mixed: the outputs are swapped back
    assert aux.shape == (4, 16, 6) and torch.isfinite(loss)
    assert model.aux_head.weight.grad is not None and model.backbone.model.cls_token.grad is not None


def test_token_label_inference_adds_half_the_token_max():
    model = _tl_model().eval()
    data = model.data_preprocessor(_tl_batch(), False)
    with torch.no_grad():
        scores = model(**data, mode='predict')[0]['scores']
        cls_feat, tokens = model.features(data['inputs'])
        logits = model.head(cls_feat) + 0.5 * model.aux_head(tokens).amax(1)
    torch.testing.assert_close(scores, logits.softmax(-1))
    with pytest.raises(ValueError, match='mixes with MixToken itself'):
        _tl_model(mixer=dict(type='CutMix'))
    with pytest.raises(ValueError, match="cls_target must be"):
        _tl_model(cls_target='teacher+gt')


def test_flip_after_crop_mirrors_the_map_and_the_box():
    from PIL import Image
    from openmix.registry import TRANSFORMS
    img = Image.new('RGB', (40, 20))
    values = torch.arange(2 * 4 * 4, dtype=torch.float32).view(2, 4, 4)
    res = dict(img=img, label_values=values, label_indices=values.long(), crop_box=(2, 5, 10, 12), ori_shape=(20, 40))
    out = TRANSFORMS.build(dict(type='RandomHorizontalFlip', prob=1.0))(res)
    assert out['crop_box'] == (2, 40 - 5 - 12, 10, 12)
    assert torch.equal(out['label_values'], values.flip(-1))
    crop = TRANSFORMS.build(dict(type='NormaliseCrop'))(out)['crop']
    torch.testing.assert_close(crop, torch.tensor([0.1, 23 / 40, 0.5, 0.3]))


def _block_image(n=4, cell=16):
    """An n x n grid of distinct colours and the matching (1, n, n) id map (ids 1..n*n, 0 = outside)."""
    from PIL import Image
    ids = torch.arange(1, n * n + 1).view(n, n)
    colours = np.stack([ids.numpy() * 13 % 256, ids.numpy() * 57 % 256, ids.numpy() * 101 % 256], -1)
    img = Image.fromarray(np.kron(colours, np.ones((cell, cell, 1))).astype(np.uint8))
    return img, ids[None].float(), colours


# the exact per-op checks (map vs pixels) are in tests/datasets/test_randaugment_label_maps.py


def test_randaugment_moves_label_maps_and_refuses_to_run_after_a_crop():
    from openmix.datasets.transforms import RandAugment
    img, ids, _ = _block_image()
    ra = RandAugment('rand-m9-n1-mstd0', interpolation='nearest', img_size=64)
    ops = [o for o in ra.t.ops if o.name == 'Rotate']
    ops[0].prob = 1.0
    ra.t.ops = ops
    out = ra(dict(img=img, label_values=ids.clone(), label_indices=ids.long().clone()))
    assert not torch.equal(out['label_values'], ids) and torch.equal(out['label_values'].long(), out['label_indices'])
    with pytest.raises(ValueError, match='place it before the crop'):
        ra(dict(img=img, label_values=ids, label_indices=ids.long(), crop_box=(0, 0, 8, 8)))
