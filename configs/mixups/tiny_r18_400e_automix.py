# AutoMix (Liu et al., ECCV 2022): MixBlock on the EMA encoder's stage-3 / block-6 features.
# OpenMixup benchmark row tiny_r18_400e: its recipe and alpha (REFERENCE.md section 1).
# Tiny-ImageNet uses the CIFAR alphas and AutoMix min lr (OpenMixup's Tiny values are not in REFERENCE.md).
_base_ = ['./_base_/tiny_r18_400e.py']
model = dict(
    type='AutoMixClassifier',
    mix_block=dict(type='MixBlock', upsample_mode='nearest', mask_loss_mode='L1', mask_loss_margin=0.1),
    mix_layer='layer3', alpha=2.0, momentum=0.999, mask_loss=0.1, lam_margin=0.08)
# AutoMix's CIFAR schedule: one parameter group (MixBlock included), cosine to min lr 0.05
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=0.05, by_epoch=True, begin=0, end=400,
                        convert_to_iter_based=True)]
# EMA of the k encoder and heads: 0.999, then cosine to 0.999999 from 10 % of training; the mask-loss
# weight stays 0.1 on CIFAR
custom_hooks = [dict(type='AutoMixMomentumHook', end_momentum=0.999999, adjust_scope=(0.1, 1.0))]
