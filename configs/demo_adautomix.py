# Demo comparison: AdAutoMix (Qin et al., ICLR 2024) on the tiny DeiT of configs/demo.py, same data, recipe, seeds and
# epochs as configs/demo_cutmix.py and configs/demo_automix.py:
#   python tools/train.py configs/demo_adautomix.py
# The generator reads block 2 of 4 of the EMA encoder and mixes 3 images (OpenMixup's CIFAR DeiT-S AdAutoMix config:
# block 6 of 12, nearest masks, alpha 1); the EMA momentum is scaled to the run as in demo_automix.
_base_ = ['./demo_automix.py']
model = dict(
    type='AdAutoMixClassifier',
    mix_block=dict(_delete_=True, type='AdaptiveMaskBlock', upsample_mode='nearest', lam_concat=False),
    alpha=1.0, mix_samples=3, lam_margin=0.03, mixup_ratio=0.5, beta=0.3,
    mask_loss=0.0)
