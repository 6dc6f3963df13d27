# SAMix (Li et al., "Boosting Discriminative Visual Representation Learning with Scenario-Agnostic
# Mixup"): AutoMix's pipeline with the SAMix MixBlock.
# OpenMixup benchmark row c100_rx50_800e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./c100_r18_800e_samix.py']
model = dict(backbone=dict(model_name='resnext50_32x4d'))
optim_wrapper = dict(optimizer=dict(weight_decay=5e-4))  # OpenMixup: cutting-based methods on RX-50
