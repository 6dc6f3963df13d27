"""Random patch drop and patch shuffle: identity at ratio 0 / grid 1, exact drop counts, per-image draws, patches kept,
seeding, black-pixel fill, the model's patch size."""
import pytest
import torch

from openmix.evaluation import PatchDrop, PatchShuffle, patch_drop, patch_shuffle
from openmix.evaluation.robustness import model_patch_size, pixel_zero_fill, robustness_table


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def dropped_patches(out: torch.Tensor, fill: float, p: int) -> torch.Tensor:
    """(B, N) bool: patches whose every pixel (all channels) equals ``fill``."""
    b, c, h, w = out.shape
    patches = out.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // p) * (w // p), -1)
    return (patches == fill).all(-1)


def test_ratio_zero_is_identity():
    x = torch.randn(4, 3, 16, 16)
    assert torch.equal(patch_drop(x, 0.0, 4, fill=0.0, generator=gen()), x)
    assert torch.equal(PatchDrop(0.0, 4)(x), x)


@pytest.mark.parametrize('ratio,expected', [(0.25, 4), (0.5, 8), (0.3, 5), (0.75, 12), (1.0, 16), (0.01, 0)])
def test_exactly_round_ratio_n_patches_are_dropped_per_image(ratio, expected):
    x = torch.rand(8, 3, 16, 16) + 1.0  # never 0, so a 0 pixel is a dropped one
    out = patch_drop(x, ratio, 4, fill=0.0, generator=gen())
    drop = dropped_patches(out, 0.0, 4)
    assert drop.sum(1).tolist() == [expected] * 8  # N = 16 patches of 4 x 4: round(ratio * 16)
    assert ((out == 0) == (x != out)).all()  # only whole patches change, and only to the fill
    assert (out[out != 0] == x[out != 0]).all()


def test_different_images_get_different_patches_and_a_seed_fixes_them():
    x = torch.ones(16, 3, 32, 32)
    drop = dropped_patches(patch_drop(x, 0.5, 8, fill=0.0, generator=gen(1)), 0.0, 8)
    assert len({tuple(row.tolist()) for row in drop}) > 1
    again = dropped_patches(patch_drop(x, 0.5, 8, fill=0.0, generator=gen(1)), 0.0, 8)
    other = dropped_patches(patch_drop(x, 0.5, 8, fill=0.0, generator=gen(2)), 0.0, 8)
    assert torch.equal(drop, again) and not torch.equal(drop, other)
    # a fresh PatchDrop restarts its generator: the same batches give the same drops
    a, b = PatchDrop(0.5, 8, seed=3), PatchDrop(0.5, 8, seed=3)
    assert torch.equal(a(x), b(x)) and torch.equal(a(x), b(x))


def test_rectangular_patches_and_channels_last():
    x = torch.rand(4, 3, 16, 24) + 1.0
    out = patch_drop(x.contiguous(memory_format=torch.channels_last), 0.5, (4, 6), fill=0.0, generator=gen())
    assert torch.equal(out, patch_drop(x, 0.5, (4, 6), fill=0.0, generator=gen()))
    assert ((out == 0).sum((1, 2, 3)) == 3 * 8 * 4 * 6).all()  # 8 of the 16 patches of 4 x 6, all channels


def test_fill_is_a_black_pixel_after_normalisation():
    """Naseer et al. zero the [0, 1] image before normalising: the fill is the preprocessed black pixel."""
    from openmix.models.data_preprocessor import ClsDataPreprocessor

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.data_preprocessor = ClsDataPreprocessor()

    model = Model()
    fill = pixel_zero_fill(model)
    black = model.data_preprocessor(dict(inputs=torch.zeros(1, 3, 2, 2, dtype=torch.uint8)))['inputs']
    assert fill.shape == (1, 3, 1, 1) and torch.allclose(black, fill.expand_as(black))
    x = torch.randn(2, 3, 8, 8)
    out = patch_drop(x, 1.0, 4, fill=fill)
    assert torch.allclose(out, fill.expand_as(out))
    assert pixel_zero_fill(torch.nn.Linear(2, 2)) == 0.0


def test_patch_shuffle_keeps_the_patches_and_grid_one_is_identity():
    x = torch.randn(6, 3, 16, 16)
    assert torch.equal(patch_shuffle(x, 1, gen()), x)
    assert torch.equal(PatchShuffle(1)(x), x)
    for g in (2, 4, 8):
        out = patch_shuffle(x, g, gen())
        assert torch.equal(out.flatten(1).sort(1).values, x.flatten(1).sort(1).values)  # same pixel multiset
        p = 16 // g

        def patches(t):
            return t.reshape(6, 3, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(6, g * g, -1)

        # each image's patches are a permutation of its own patches (rows sorted by content)
        src, dst = patches(x), patches(out)
        for i in range(6):
            order_src = sorted(map(tuple, src[i].tolist()))
            assert order_src == sorted(map(tuple, dst[i].tolist()))
        assert not torch.equal(out, x)
    # images get their own permutations (arange images: the patch index is readable from the first pixel)
    img = torch.arange(16 * 16, dtype=torch.float32).view(1, 1, 16, 16).expand(8, 3, 16, 16).contiguous()
    first = patch_shuffle(img, 4, gen())[:, 0, ::4, ::4].flatten(1)
    assert len({tuple(r.tolist()) for r in first}) > 1


def test_patch_shuffle_is_seeded():
    x = torch.randn(4, 3, 8, 8)
    assert torch.equal(PatchShuffle(4, seed=5)(x), PatchShuffle(4, seed=5)(x))
    assert not torch.equal(PatchShuffle(4, seed=5)(x), PatchShuffle(4, seed=6)(x))


def test_errors_name_the_sizes():
    with pytest.raises(ValueError, match=r'\(30, 30\).*\(8, 8\)'):
        patch_drop(torch.zeros(1, 3, 30, 30), 0.5, 8)
    with pytest.raises(ValueError, match='3 x 3'):
        patch_shuffle(torch.zeros(1, 3, 16, 16), 3)
    with pytest.raises(ValueError, match='ratio'):
        PatchDrop(1.5)
    with pytest.raises(ValueError, match='grid'):
        PatchShuffle(0)


def test_model_patch_size_from_the_patch_embedding():
    from openmix.models.backbones.timm_backbone import TimmBackbone
    vit = TimmBackbone('vit_tiny_patch16_224', img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2)
    assert model_patch_size(vit) == (8, 8)
    assert model_patch_size(torch.nn.Conv2d(3, 3, 3)) == (16, 16)


def test_table_lists_each_setting():
    table = robustness_table({'accuracy/top1': 80.0, 'calibration/ece': 3.5,
                              'robustness/occlusion_0.5/top1': 60.0, 'robustness/patch_shuffle_4/top1': 40.0})
    assert 'occlusion ratio 0.5' in table and 'patch shuffle 4x4' in table and '40.00' in table and 'ECE' in table
