# Mixup (Zhang et al., ICLR 2018).
# OpenMixup benchmark row c100_rx50_800e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./c100_r18_800e_mixup.py']
model = dict(backbone=dict(model_name='resnext50_32x4d'))
