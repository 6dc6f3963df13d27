# LV-ViT-M with Token Labeling (README recipe, official quirks included via the LV-ViT-S row): the
# _base_/models/lvvit_m.py backbone (width 512, depth 20, 8 heads, residual scaling 2, drop path 0.2 from the README
# command). Published top-1: 84.0.
_base_ = ['../lvvit_s_token_labeling.py']
model = dict(backbone=dict(embed_dim=512, depth=20, num_heads=8, drop_path_rate=0.2))
