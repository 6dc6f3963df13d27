# SAMix (Li et al., "Boosting Discriminative Visual Representation Learning with Scenario-Agnostic
# Mixup"): AutoMix's pipeline with the SAMix MixBlock.
# OpenMixup benchmark row c100_r18_800e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./c100_r18_800e_automix.py']
model = dict(mix_block=dict(_delete_=True, type='SAMixBlock', lam_mul_k=0.25, value_neck=dict(dropout=0.0)),
             mask_adjust=0.25, legacy_mask_adjust=True)
