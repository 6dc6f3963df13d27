# LV-ViT-T: width 240, depth 12, 4 heads, MLP ratio 3 (official lvvit.py), otherwise as LV-ViT-S.
_base_ = ['./lvvit_s.py']
model = dict(backbone=dict(embed_dim=240, depth=12, num_heads=4, drop_path_rate=0.1))
