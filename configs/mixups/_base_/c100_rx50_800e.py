# CIFAR-100, CIFAR ResNeXt-50 (32x4d), 800 epochs; OpenMixup uses wd 5e-4 for the cutting-based methods
# (CutMix, PuzzleMix, AttentiveMix, AutoMix, SAMix: their configs set it) and 1e-4 otherwise.
_base_ = ['./c100_r18_800e.py']
model = dict(backbone=dict(model_name='resnext50_32x4d'))
