# MixPro (Zhao et al., ICLR 2023), ImageNet-1k DeiT-T, 300 epochs: the DeiT-S row's recipe (official
# deit_tiny_patch14_mask56_224: 14 px patches, 56 px MaskMix cells, MaskMix in half of the batches) on DeiT-T.
# Published top-1: 73.8 (paper abstract).
_base_ = ['../transmix/deit_t_baseline.py']
model = dict(
    backbone=dict(patch_size=14),
    mixer=dict(_delete_=True, type='RandomMix',
               mixers=[dict(type='MaskMix', alpha=1.0, mask_patch_size=56, cell_lam=True),
                       dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)],
               probs=[0.5, 0.25, 0.25]),
    label_assigner=dict(type='MixProLabel', smoothing=False))
