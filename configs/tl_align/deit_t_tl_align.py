# TL-Align (Xiao et al., ICCV 2023), ImageNet-1k DeiT-T, 300 epochs: the DeiT-S row's recipe on DeiT-T.
# Published top-1: 73.2 (official README; DeiT-T 72.2).
_base_ = ['../transmix/deit_t_baseline.py']
model = dict(mixer=dict(_delete_=True, type='CutMix', alpha=1.0),
             label_assigner=dict(type='TLAlignLabel'))
