# DeiT-S + TransMix (Chen et al., CVPR 2022) on the DeiT recipe of deit_s_baseline.py (Mixup 0.8 / CutMix 1.0,
# switch 0.5, smoothing 0.1, random erasing 0.25, repeated augmentation, lr 5e-4 x batch/512, EMA). CutMix batches
# get TransMix labels (0.5 area + 0.5 class attention inside the box); Mixup batches keep area labels.
# Published top-1: 80.7 (TransMix Table 1, baseline 79.8). The official recipe is transmix/deit_s_transmix_official.py.
_base_ = ['./deit_s_baseline.py']
model = dict(label_assigner=dict(type='TransMixLabel', attn_weight=0.5))
