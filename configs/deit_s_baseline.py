# DeiT-S baseline (Touvron et al., ICML 2021, Table 9 recipe): Mixup 0.8 / CutMix 1.0 switched with p 0.5 per
# batch, label smoothing 0.1, RandAugment m9, random erasing 0.25, repeated augmentation, EMA, 300 epochs,
# batch 1024 (8 x 128), lr 5e-4 x 1024/512. Published top-1: 79.8 (DeiT paper).
_base_ = [
    './_base_/models/deit_small.py',
    './_base_/datasets/imagenet_deit.py',
    './_base_/schedules/deit_300e.py',
    './_base_/default_runtime.py',
]
model = dict(mixer=dict(
    type='RandomMix',
    mixers=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)],
    switch_prob=0.5,  # probability of CutMix (timm's name)
    prob=1.0,
    mode='batch',
))
