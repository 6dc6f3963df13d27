# SAMix (Li et al., "Boosting Discriminative Visual Representation Learning with Scenario-Agnostic
# Mixup"): AutoMix's pipeline with the SAMix MixBlock.
# OpenMixup benchmark row c100_r18_200e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./c100_r18_800e_samix.py']
train_cfg = dict(max_epochs=200)
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=0.05, by_epoch=True, begin=0, end=200,
                        convert_to_iter_based=True)]
model = dict(mask_adjust=0.0)  # mask_adjust 0.25 is the 800-epoch setting
