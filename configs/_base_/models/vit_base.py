# ViT-B/16 (Dosovitskiy et al., ICLR 2021) with the DeiT training recipe.
_base_ = ['./deit_small.py']
model = dict(backbone=dict(model_name='vit_base_patch16_224', drop_path_rate=0.1))
