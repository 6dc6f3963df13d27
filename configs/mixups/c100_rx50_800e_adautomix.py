# AdAutoMix (Qin et al., ICLR 2024) on CIFAR ResNeXt-50 (32x4d): official README 84.22; the official RX-50 config
# has the R-18 settings (weight decay 1e-4).
_base_ = ['./c100_r18_800e_adautomix.py']
model = dict(backbone=dict(model_name='resnext50_32x4d'))
