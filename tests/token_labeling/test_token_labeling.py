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
