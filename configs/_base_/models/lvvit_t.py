# LV-ViT-T (official tlt/models/lvvit.py `lvvit_t`): width 240, depth 12, 4 heads, MLP ratio 3, residual scaling 1
# (no scaling; LV-ViT-S/M use 2), otherwise as LV-ViT-S. The README gives no LV-ViT-T command; drop path stays 0.1.
_base_ = ['./lvvit_s.py']
model = dict(backbone=dict(embed_dim=240, depth=12, num_heads=4, drop_path_rate=0.1,
                           block_fn=dict(type='ScaledResidualBlock', skip_lam=1.0)))
