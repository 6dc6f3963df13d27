"""AttentiveMix: the top cells of the scored image's feature map, exact per-sample lam, the frozen network."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from openmix.mixers import CutMix, RandomMix
from openmix.mixers.attentivemix import AttentiveMix
from openmix.mixers.base import MixParams
from openmix.registry import MODELS


@pytest.fixture
def ckpt(tmp_path):
    """A resnet18 state dict (with its fc, as a torchvision/timm checkpoint has) written by the test."""
    torch.manual_seed(0)
    net = timm.create_model('resnet18', num_classes=10)
    path = tmp_path / 'resnet18.pth'
    torch.save(net.state_dict(), path)
    return path, net


def id_images(b: int, size: int) -> torch.Tensor:
    """Image i is constant i: every mixed pixel tells which image it came from."""
    return torch.arange(b, dtype=torch.float32).view(b, 1, 1, 1).expand(b, 3, size, size).clone()


def fake_features(fmap: torch.Tensor):
    """A feature extractor returning ``fmap[i]`` for image i (read from its pixel value)."""
    return lambda x: fmap[x[:, 0, 0, 0].long()]


def cell_rows(size: int, grid: int) -> np.ndarray:
    """Cell of each pixel row under nearest upsampling: floor(p * grid / size)."""
    return (np.arange(size) * grid) // size


@pytest.mark.parametrize('scored', ['self', 'partner'])
def test_top_cells_of_the_scored_image_and_exact_lam(ckpt, monkeypatch, scored):
    b, grid, size, k = 4, 4, 18, 3  # 18 px over 4 cells: uneven cells (5, 4, 5, 4 px), lam differs per sample
    mixer = AttentiveMix(checkpoint=str(ckpt[0]), model_name='resnet18', top_k=k, grid=grid, scored=scored,
                         pairing='flip', seed=0)
    fmap = torch.randn(b, 2, grid, grid, generator=torch.Generator().manual_seed(1))
    monkeypatch.setattr(mixer, 'features', fake_features(fmap))
    out = mixer(id_images(b, size))
    index = np.array([3, 2, 1, 0])
    rows = cell_rows(size, grid)
    cell_of_pixel = rows[:, None] * grid + rows[None, :]
    for i in range(b):
        s = i if scored == 'self' else index[i]
        top = np.argsort(-fmap[s].mean(0).flatten().numpy())[:k]
        in_top = np.isin(cell_of_pixel, top)
        other = index[i] if scored == 'self' else i
        expected = np.where(in_top, s, other)
        assert np.array_equal(out.inputs[i, 1].numpy(), expected)
        partner_px = (expected == index[i]).sum()
        assert out.lam[i].item() == pytest.approx(1 - partner_px / size ** 2)
        assert torch.equal(out.mask[i, 0], torch.from_numpy(expected == index[i]).float())
    assert out.lam.unique().numel() > 1  # exact per sample, not sample 0's area for all (OpenMixup)


def test_divisible_grid_lam_is_cells_over_grid_squared(ckpt, monkeypatch):
    mixer = AttentiveMix(checkpoint=str(ckpt[0]), model_name='resnet18', top_k=6, grid=7, seed=0)
    monkeypatch.setattr(mixer, 'features', fake_features(torch.randn(5, 8, 7, 7)))
    out = mixer(id_images(5, 28))
    pairs = out.index != torch.arange(5)
    torch.testing.assert_close(out.lam[pairs], torch.full((int(pairs.sum()),), 6 / 49))  # paper: N = 6 of 49
    partner = AttentiveMix(checkpoint=str(ckpt[0]), model_name='resnet18', top_k=6, grid=7, scored='partner', seed=0)
    monkeypatch.setattr(partner, 'features', fake_features(torch.randn(5, 8, 7, 7)))
    out = partner(id_images(5, 28))
    pairs = out.index != torch.arange(5)
    torch.testing.assert_close(out.lam[pairs], torch.full((int(pairs.sum()),), 1 - 6 / 49))  # 1 - pasted area


def test_openmixup_cells_from_beta_lam_and_feature_map_grid(ckpt, monkeypatch):
    b, seed = 6, 3
    mixer = AttentiveMix(checkpoint=str(ckpt[0]), model_name='resnet18', grid=None, seed=seed)  # top_k None
    monkeypatch.setattr(mixer, 'features', fake_features(torch.randn(b, 4, 4, 4)))
    out = mixer(id_images(b, 16))
    rng = np.random.default_rng(seed)  # prob check, lam ~ Beta(2, 2), permutation
    rng.random()
    lam = rng.beta(2.0, 2.0, size=1)[0]
    index = rng.permutation(b)
    k = min(max(1, int(16 * lam)), 16)
    assert out.index.tolist() == index.tolist()
    pairs = out.index != torch.arange(b)
    torch.testing.assert_close(out.lam[pairs], torch.full((int(pairs.sum()),), k / 16))


def test_checkpoint_is_loaded_and_kept_out_of_state_dict(ckpt):
    path, net = ckpt
    mixer = AttentiveMix(checkpoint=str(path), model_name='resnet18', feat_size=None, seed=0)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(mixer.features(x), net.eval().forward_features(x))
    assert list(mixer.parameters()) == [] and mixer.state_dict() == {}
    assert not any(p.requires_grad for p in mixer.net.parameters())
    model = MODELS.build(dict(type='ImageClassifier', head=dict(type='LinearClsHead', num_classes=3),
                              backbone=dict(type='TimmBackbone', model_name='resnet18', cifar_stem=True),
                              mixer=dict(type='AttentiveMix', checkpoint=str(path), model_name='resnet18',
                                         feat_size=64)))
    assert not any(k.startswith('mixer') for k in model.state_dict())
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in model.backbone.parameters()) + 3 * 513
    out = model.loss(torch.randn(4, 3, 32, 32), dict(gt_label=torch.tensor([0, 1, 2, 0])))
    assert torch.isfinite(out['loss'])
    # an openmix classifier checkpoint (backbone.model.* keys) loads too
    cls_path = path.parent / 'classifier.pth'
    torch.save(dict(state_dict={f'backbone.model.{k}': v for k, v in net.state_dict().items()}), cls_path)
    again = AttentiveMix(checkpoint=str(cls_path), model_name='resnet18')
    torch.testing.assert_close(again.net.conv1.weight, net.conv1.weight)


def test_missing_or_wrong_checkpoint_errors(ckpt, tmp_path):
    missing = tmp_path / 'nope.pth'
    with pytest.raises(FileNotFoundError, match=str(missing)):
        AttentiveMix(checkpoint=str(missing), model_name='resnet18')
    with pytest.raises(ValueError, match='mixer.checkpoint'):
        AttentiveMix(model_name='resnet18')
    with pytest.raises(KeyError, match='does not hold .resnet34. weights'):
        AttentiveMix(checkpoint=str(ckpt[0]), model_name='resnet34')
    with pytest.raises(ValueError, match='mixer.top_k'):
        AttentiveMix(checkpoint=str(ckpt[0]), model_name='resnet18', top_k=50, grid=7)


def test_frozen_net_stays_in_eval_and_bn_statistics_do_not_move(ckpt):
    mixer = AttentiveMix(checkpoint=str(ckpt[0]), model_name='resnet18', feat_size=32, seed=0)
    mixer.train()  # as model.train() does
    before = {k: v.clone() for k, v in mixer.net.state_dict().items()}
    x = torch.randn(4, 3, 32, 32) * 3 + 1
    for _ in range(2):
        out = mixer(x.clone())
    after = mixer.net.state_dict()
    assert not mixer.net.training
    assert all(torch.equal(before[k], after[k]) for k in before)
    # invariants of a real (not faked) scoring pass
    torch.testing.assert_close(out.lam, torch.where(out.index == torch.arange(4), 1.0, 1 - out.mask.mean((1, 2, 3))))
    torch.testing.assert_close(out.inputs, torch.where(out.mask.bool(), x[out.index], x))


def test_legacy_train_bn_scores_with_batch_statistics_like_openmixup(ckpt):
    """OpenMixup's pretrained net is a submodule in train mode: BN uses the batch's statistics (a fresh train-mode
    copy of the network is the independent reference); the loaded running statistics stay as they are."""
    mixer = AttentiveMix(checkpoint=str(ckpt[0]), model_name='resnet18', feat_size=32, legacy_train_bn=True, seed=0)
    mixer.eval()  # as model.eval() would; the legacy network stays in train mode
    before = {k: v.clone() for k, v in mixer.net.state_dict().items()}
    x = torch.randn(4, 3, 32, 32) * 3 + 1
    reference = timm.create_model('resnet18', num_classes=0)
    reference.load_state_dict(ckpt[1].state_dict(), strict=False)
    with torch.no_grad():
        eval_mode = reference.eval().forward_features(x)
        expected = reference.train().forward_features(x)  # (moves the reference's running statistics)
    torch.testing.assert_close(mixer.features(x), expected)
    assert not torch.allclose(expected, eval_mode)  # the flag matters
    assert mixer.net.training
    after = mixer.net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    default = AttentiveMix(checkpoint=str(ckpt[0]), model_name='resnet18', feat_size=32, seed=0)
    torch.testing.assert_close(default.features(x), eval_mode)


def test_random_mix_accepts_it_in_batch_mode_only(ckpt):
    make = lambda: AttentiveMix(checkpoint=str(ckpt[0]), model_name='resnet18', feat_size=32)  # noqa: E731
    RandomMix(mixers=[make(), CutMix()], mode='batch', seed=0)
    with pytest.raises(ValueError, match="mode='batch'"):
        RandomMix(mixers=[make(), CutMix()], mode='elem', seed=0)


REFERENCE = Path(__file__).parents[1] / 'fixtures' / 'reference' / 'attentivemix.npz'


class _Owner:
    """Stands in for the pairing of the reference run: it drew its partner permutation with torch.randperm."""

    def __init__(self, perm: np.ndarray) -> None:
        self.perm = torch.from_numpy(perm)

    def partner_index(self, b, device):
        return self.perm.to(device)


@pytest.mark.parametrize('case', [0, 1, 2])
@pytest.mark.parametrize('shared', [True, False])
def test_matches_recorded_openmixup_output(ckpt, monkeypatch, case, shared):
    """Same features, lam and permutation as the recorded OpenMixup run: identical images; lam identical with
    ``legacy_shared_lam`` (sample 0's share for all), each sample's own share without it."""
    ref = np.load(REFERENCE)
    c = lambda k: ref[f'c{case}_{k}']  # noqa: E731
    top_k = int(c('top_k'))
    mixer = AttentiveMix(checkpoint=str(ckpt[0]), model_name='resnet18', alpha=2.0, grid=None,
                         top_k=None if top_k < 0 else top_k, legacy_shared_lam=shared, seed=0)
    feats = torch.from_numpy(c('feats'))
    monkeypatch.setattr(mixer, 'features', lambda x: feats)
    x = torch.from_numpy(c('img')).float()
    out = mixer.mix_whole_batch_with(_Owner(c('perm')), x.clone(), MixParams(np.array([float(c('lam_drawn'))])))
    assert torch.equal(out.inputs, torch.from_numpy(c('mixed')).float())
    own = 1.0 - out.mask.flatten(1).mean(1)
    paired = torch.from_numpy(c('perm')) != torch.arange(len(x))  # a sample paired with itself is unmixed: lam 1
    assert torch.equal(out.lam[~paired], torch.ones(int((~paired).sum())))
    if shared:
        assert torch.allclose(out.lam[paired], torch.full_like(out.lam[paired], float(c('lam'))))
    else:
        assert torch.allclose(out.lam[paired], own[paired])
        assert own[0].item() == pytest.approx(float(c('lam')))
    if case < 2:  # 32 px over 7 cells: unequal cells, so the per-sample shares differ from sample 0's
        assert (own - float(c('lam'))).abs().max() > 1e-3
    else:  # 28 px: equal cells, every sample's share is sample 0's
        assert torch.allclose(own, torch.full_like(own, float(c('lam'))))
