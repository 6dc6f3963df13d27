# SAMix (Li et al., "Boosting Discriminative Visual Representation Learning with Scenario-Agnostic
# Mixup"): AutoMix's pipeline with the SAMix MixBlock.
# OpenMixup benchmark row in_r50_100e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./in_r18_100e_samix.py']
model = dict(backbone=dict(model_name='resnet50'))
