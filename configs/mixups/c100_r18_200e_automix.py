# AutoMix (Liu et al., ECCV 2022): MixBlock on the EMA encoder's stage-3 / block-6 features.
# OpenMixup benchmark row c100_r18_200e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./c100_r18_800e_automix.py']
train_cfg = dict(max_epochs=200)
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=0.05, by_epoch=True, begin=0, end=200,
                        convert_to_iter_based=True)]
