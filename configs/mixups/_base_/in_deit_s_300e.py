# ImageNet-1k, DeiT-S, 300 epochs, OpenMixup's DeiT recipe (RandAugment, random erasing 0.25, AdamW 1e-3 @ 1024
# = 5e-4 x batch / 512, wd 0.05, 5 warm-up epochs, min lr 1e-5, smoothing 0.1, clip 5, no repeated augmentation,
# no EMA); reported as the best top-1. The method files replace model.mixer (here the DeiT Mixup/CutMix switch).
_base_ = ['../../deit_s_baseline.py']
optim_wrapper = dict(clip_grad=dict(max_norm=5.0))
train_dataloader = dict(sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True))
custom_hooks = []
