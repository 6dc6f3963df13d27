# Mixup (Zhang et al., ICLR 2018).
# OpenMixup benchmark row in_r50_100e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./in_r18_100e_mixup.py']
model = dict(backbone=dict(model_name='resnet50'))
