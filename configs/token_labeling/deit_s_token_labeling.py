# DeiT-S with Token Labeling + MixToken (aux token head on the stock timm DeiT-S; linear patch embedding, no
# residual scaling), LV-ViT's training recipe, official quirks (legacy_box_order, legacy_smoothing) included via the
# LV-ViT-S row. Published top-1: [UNVERIFIED] (paper Table; not in the README).
_base_ = ['../lvvit_s_token_labeling.py']
model = dict(backbone=dict(_delete_=True, type='TimmBackbone', model_name='deit_small_patch16_224',
                           drop_path_rate=0.1))
