# Demo comparison, MixPro (Zhao et al., ICLR 2023): MaskMix (16 px cells = 2 x 2 tokens of the 64 px demo model, alpha
# 1) switched with CutMix (alpha 1) every other batch, and progressive attention labels on MaskMix batches. Same seeds
# and epochs as configs/demo_cutmix.py.
_base_ = ['./demo_cutmix.py']
model = dict(
    mixer=dict(_delete_=True, type='RandomMix',
               mixers=[dict(type='MaskMix', alpha=1.0, mask_patch_size=16), dict(type='CutMix', alpha=1.0)],
               switch_prob=0.5),
    label_assigner=dict(_delete_=True, type='MixProLabel'))
