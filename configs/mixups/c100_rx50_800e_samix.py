# SAMix (Li et al., "Boosting Discriminative Visual Representation Learning with Scenario-Agnostic
# Mixup"): AutoMix's pipeline with the SAMix MixBlock.
# OpenMixup benchmark row c100_rx50_800e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/c100_rx50_800e.py']
model = dict(
    type='AutoMixClassifier',
    mix_block=dict(type='SAMixBlock', lam_mul_k=0.25, value_neck=dict(dropout=0.0)),
    mix_layer='layer3', alpha=2.0, momentum=0.999, mask_loss=0.1, lam_margin=0.08, mask_adjust=0.25,
    legacy_mask_adjust=True)
# AutoMix's CIFAR schedule: one parameter group (MixBlock included), cosine to min lr 0.05
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=0.05, by_epoch=True, begin=0, end=800,
                        convert_to_iter_based=True)]
# EMA of the k encoder and heads: 0.999, then cosine to 0.999999 from 10 % of training; the mask-loss
# weight stays 0.1 on CIFAR
custom_hooks = [dict(type='AutoMixMomentumHook', end_momentum=0.999999, adjust_scope=(0.1, 1.0))]
optim_wrapper = dict(optimizer=dict(weight_decay=5e-4))  # OpenMixup: cutting-based methods on RX-50
