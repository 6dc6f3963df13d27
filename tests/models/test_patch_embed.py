"""ConvStemPatchEmbed: a drop-in for timm's PatchEmbed inside a stock timm ViT."""
import pytest
import torch

from openmix.registry import MODELS


def test_conv_stem_keeps_the_token_grid_and_trains():
    plain = MODELS.build(dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32, patch_size=8,
                              embed_dim=32, depth=1, num_heads=2))
    stem = MODELS.build(dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32, patch_size=8,
                             embed_dim=32, depth=1, num_heads=2,
                             embed_layer=dict(type='ConvStemPatchEmbed', stem_channels=8, stem_stride=2)))
    pe = stem.model.patch_embed
    assert pe.grid_size == plain.model.patch_embed.grid_size == (4, 4) and pe.num_patches == 16
    convs = [m for m in pe.proj if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.stride) for c in convs] == [((7, 7), (2, 2)), ((3, 3), (1, 1)), ((3, 3), (1, 1)),
                                                           ((4, 4), (4, 4))]
    x = torch.randn(2, 3, 32, 32)
    tokens = pe(x)
    assert tokens.shape == (2, 16, 32)
    # token (r, c) only sees its own 8x8 patch plus the stem's receptive field: changing a far corner leaves it
    y = x.clone()
    y[:, :, 24:, 24:] += 5
    assert torch.equal(pe.eval()(x)[:, 0], pe(y)[:, 0]) and not torch.equal(pe(x)[:, 15], pe(y)[:, 15])
    stem.train()
    (stem(x) * torch.randn(2, 32)).sum().backward()  # not a plain sum: the final LayerNorm makes that constant
    assert convs[0].weight.grad is not None and convs[0].weight.grad.abs().sum() > 0


def test_bad_stem_arguments_are_named():
    with pytest.raises(ValueError, match='stem_stride=3 must divide the square patch size'):
        MODELS.build(dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32, patch_size=8,
                          embed_layer=dict(type='ConvStemPatchEmbed', stem_stride=3)))
    with pytest.raises(KeyError, match='backbone.embed_layer.type'):
        MODELS.build(dict(type='TimmBackbone', model_name='vit_tiny_patch16_224',
                          embed_layer=dict(type='ConvStemPatchEmbd')))


def test_scaled_residual_block_divides_both_branches():
    from openmix.models.backbones import ScaledResidualBlock
    torch.manual_seed(0)
    blk = ScaledResidualBlock(dim=16, num_heads=2, mlp_ratio=3.0, skip_lam=2.0).eval()
    x = torch.randn(2, 5, 16)
    h = x + blk.attn(blk.norm1(x)) / 2.0
    expected = h + blk.mlp(blk.norm2(h)) / 2.0
    torch.testing.assert_close(blk(x), expected)
    with pytest.raises(ValueError, match='skip_lam must be > 0'):
        ScaledResidualBlock(dim=16, num_heads=2, skip_lam=0)
    lvvit = MODELS.build(dict(type='TimmBackbone', model_name='vit_small_patch16_224', img_size=32, embed_dim=24,
                              depth=2, num_heads=2, mlp_ratio=3.0,
                              block_fn=dict(type='ScaledResidualBlock', skip_lam=2.0)))
    assert all(b.skip_lam == 2.0 for b in lvvit.model.blocks)
