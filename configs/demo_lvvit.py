# The tiny LV-ViT of configs/demo_token_labeling.py trained WITHOUT token labeling: the DeiT recipe of configs/demo.py
# (Mixup/CutMix switch with area labels, smoothing, RandAugment, random erasing, EMA) on the same backbone, for the
# with/without token-labeling comparison on the demo data:
#   python tools/train.py configs/demo_lvvit.py
# Tiny LV-ViT: LV-ViT's conv stem (32 channels), MLP ratio 3, no qkv bias, residual scaling 2 (Jiang et al., Table 1),
# at the demo size (64 px, patch 8, 4 blocks, width 64, 2 heads, stride-4 stem).
_base_ = ['./demo.py']
model = dict(
    backbone=dict(mlp_ratio=3.0, qkv_bias=False, block_fn=dict(type='ScaledResidualBlock', skip_lam=2.0)),
    label_assigner=None,
)
