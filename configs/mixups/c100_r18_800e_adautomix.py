# AdAutoMix (Qin et al., ICLR 2024): AutoMix's EMA encoder with the adversarial AdaptiveMask generator, 3 images.
# Official row (github.com/JinXins/Adversarial-AutoMixup README, CIFAR-100 R-18: 82.32, listed against OpenMixup's
# 800-epoch numbers), settings of its configs/classification/cifar100/basic/r18_adautomix_bilinear.py (whose
# runner says 400 epochs) and OpenMixup's cifar100/adautomix/basic/r18_l2_a1_bili_mlr5e_2.py.
_base_ = ['./_base_/c100_r18_800e.py']
model = dict(
    type='AdAutoMixClassifier',
    mix_block=dict(type='AdaptiveMaskBlock', reduction=2, use_scale=True, upsample_mode='bilinear', lam_concat=False),
    mix_layer='layer3', alpha=1.0, mix_samples=3, is_random=False, momentum=0.999, lam_margin=0.03, mixup_ratio=0.5,
    beta=0.3)
# one parameter group (generator included), cosine to min lr 0.05 as AutoMix on CIFAR
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=0.05, by_epoch=True, begin=0, end=800,
                        convert_to_iter_based=True)]
custom_hooks = [dict(type='AutoMixMomentumHook', end_momentum=0.999999, adjust_scope=(0.1, 1.0))]
