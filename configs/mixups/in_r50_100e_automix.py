# AutoMix (Liu et al., ECCV 2022): MixBlock on the EMA encoder's stage-3 / block-6 features.
# OpenMixup benchmark row in_r50_100e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./in_r18_100e_automix.py']
model = dict(backbone=dict(model_name='resnet50'))
