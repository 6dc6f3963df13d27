# CutMix (Yun et al., ICCV 2019), the official box rule.
# OpenMixup benchmark row in_r50_100e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./in_r18_100e_cutmix.py']
model = dict(backbone=dict(model_name='resnet50'))
