# SAMix (Li et al., "Boosting Discriminative Visual Representation Learning with Scenario-Agnostic
# Mixup"): AutoMix's pipeline with the SAMix MixBlock.
# OpenMixup benchmark row in_r18_100e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/in_r18_100e.py']
model = dict(
    type='AutoMixClassifier',
    mix_block=dict(type='SAMixBlock', lam_mul_k=-1),
    mix_layer='layer3', alpha=2.0, momentum=0.999, mask_loss=0.1, lam_margin=0.08)
# the MixBlock in its own parameter group, with its own cosine to 1e-3 (OpenMixup's addtional_scheduler)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'mix_block': dict(lr_mult=1.0)}))
custom_hooks = [
    dict(type='AutoMixMomentumHook', end_momentum=0.99999, adjust_scope=(0.1, 1.0)),
    # OpenMixup's per-iteration compounding cosine of the mask-loss weight, which made the published numbers
    dict(type='AttrCosineAnnealingHook', attr_name='mask_loss', end=0.0, legacy_compound=True),
    dict(type='MixBlockLrHook', min_lr=1e-3, by_epoch=True),
]
