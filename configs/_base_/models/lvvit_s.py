# LV-ViT-S (Jiang et al., NeurIPS 2021, Table 1; official tlt/models/lvvit.py `lvvit_s`): width 384, depth 16, 6 heads,
# MLP ratio 3, no qkv bias, conv stem (7x7/2 + 2 x 3x3, 64 channels, then an 8x8/8 projection: patch 16), residual
# scaling 2, PyTorch LayerNorm (eps 1e-5, not timm's 1e-6: released checkpoints then give the official logits), drop
# path 0.1 (README command); trained with token labels (aux head, MixToken), random erasing 0.25, smoothing 0.1.
model = dict(
    type='TokenLabelClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', random_erasing=dict(prob=0.25, mode='pixel')),
    backbone=dict(type='TimmBackbone', model_name='vit_small_patch16_224', embed_dim=384, depth=16, num_heads=6,
                  mlp_ratio=3.0, qkv_bias=False, drop_path_rate=0.1,
                  embed_layer=dict(type='ConvStemPatchEmbed', stem_channels=64, stem_stride=2),
                  block_fn=dict(type='ScaledResidualBlock', skip_lam=2.0),
                  norm_layer=dict(type='LayerNorm', eps=1e-5)),
    head=dict(type='LinearClsHead', num_classes=1000),
    loss=dict(type='TokenLabelLoss', cls_weight=1.0, dense_weight=1.0),
    label_smoothing=0.1,
    mix_token=True,
    cls_target='teacher',
)
