# SAMix (Li et al., "Boosting Discriminative Visual Representation Learning with Scenario-Agnostic
# Mixup"): AutoMix's pipeline with the SAMix MixBlock.
# OpenMixup benchmark row tiny_r18_400e: its recipe and alpha (REFERENCE.md section 1).
# Tiny-ImageNet uses the CIFAR alphas and AutoMix min lr (OpenMixup's Tiny values are not in REFERENCE.md).
_base_ = ['./tiny_r18_400e_automix.py']
model = dict(mix_block=dict(_delete_=True, type='SAMixBlock', lam_mul_k=0.25, value_neck=dict(dropout=0.0)))
