# MixPro (Zhao et al., ICLR 2023), ImageNet-1k DeiT-S, 300 epochs: the official deit_small_patch14_mask56_224 recipe:
# DeiT-S with 14 px patches (16 x 16 tokens), MaskMix with 56 px cells (4 x 4 tokens each, alpha 1) in half of the
# batches, DeiT's Mixup 0.8 / CutMix 1.0 switch in the others, progressive attention labels on MaskMix batches with
# the official hard-label PAL loss (smoothing=False). The released DeiT-S/T yaml files set PAL_ATTN False (MaskMix
# with area labels); the paper's MixPro, run here, has PAL on. Published top-1: none verified for DeiT-S.
_base_ = ['../deit_s_baseline.py']
model = dict(
    backbone=dict(patch_size=14),
    mixer=dict(_delete_=True, type='RandomMix',
               mixers=[dict(type='MaskMix', alpha=1.0, mask_patch_size=56, cell_lam=True),
                       dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)],
               probs=[0.5, 0.25, 0.25]),
    label_assigner=dict(type='MixProLabel', smoothing=False))
