# LV-ViT-T with Token Labeling (README recipe as LV-ViT-S): width 240, depth 12, 4 heads. Published top-1: 79.1.
_base_ = ['../lvvit_s_token_labeling.py']
model = dict(backbone=dict(embed_dim=240, depth=12, num_heads=4, drop_path_rate=0.1))
