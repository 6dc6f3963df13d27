# AdAutoMix (Qin et al., ICLR 2024) on ImageNet-1k R-18, 100 epochs: official README 70.86; settings of the official
# configs/classification/imagenet/adautomix/basic/r18_adautomix_bilinear.py (two images, beta 0.1, lam channel,
# bilinear masks, generator lr cosine to 1e-3 in its own group).
_base_ = ['./_base_/in_r18_100e.py']
model = dict(
    type='AdAutoMixClassifier',
    mix_block=dict(type='AdaptiveMaskBlock', reduction=2, use_scale=True, upsample_mode='bilinear', lam_concat=True),
    mix_layer='layer3', alpha=1.0, mix_samples=2, is_random=False, momentum=0.999, lam_margin=0.03, mixup_ratio=0.5,
    beta=0.1)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'mix_block': dict(lr_mult=1.0)}))
custom_hooks = [
    dict(type='AutoMixMomentumHook', end_momentum=0.99999, adjust_scope=(0.1, 1.0)),
    dict(type='MixBlockLrHook', min_lr=1e-3, by_epoch=True),
]
