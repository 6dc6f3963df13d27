# LV-ViT-T with Token Labeling (README recipe as LV-ViT-S, official quirks included via the LV-ViT-S row): the
# _base_/models/lvvit_t.py backbone (width 240, depth 12, 4 heads, residual scaling 1). Published top-1: 79.1.
_base_ = ['../lvvit_s_token_labeling.py']
model = dict(backbone=dict(embed_dim=240, depth=12, num_heads=4, drop_path_rate=0.1,
                           block_fn=dict(type='ScaledResidualBlock', skip_lam=1.0)))
