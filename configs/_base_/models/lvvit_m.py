# LV-ViT-M (official tlt/models/lvvit.py `lvvit_m`): width 512, depth 20, 8 heads, MLP ratio 3, residual scaling 2,
# drop path 0.2 (README command), otherwise as LV-ViT-S.
_base_ = ['./lvvit_s.py']
model = dict(backbone=dict(embed_dim=512, depth=20, num_heads=8, drop_path_rate=0.2))
