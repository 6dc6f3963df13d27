# CaiT-XXS24 (Touvron et al., ICCV 2021): class-attention layers on top of self-attention blocks.
_base_ = ['./deit_small.py']
model = dict(backbone=dict(model_name='cait_xxs24_224', drop_path_rate=0.05))
