# AdAutoMix (Qin et al., ICLR 2024) on ImageNet-1k R-50, 100 epochs: official README 78.04 (the official R-50 config
# has the R-18 settings).
_base_ = ['./in_r18_100e_adautomix.py']
model = dict(backbone=dict(model_name='resnet50'))
