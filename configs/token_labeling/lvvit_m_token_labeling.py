# LV-ViT-M with Token Labeling: width 512, depth 20, 8 heads, drop path 0.2 (README). Published top-1: 84.0.
_base_ = ['../lvvit_s_token_labeling.py']
model = dict(backbone=dict(embed_dim=512, depth=20, num_heads=8, drop_path_rate=0.2))
