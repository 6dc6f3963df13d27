# AttentiveMix+ (Walawalkar et al., ICASSP 2020; OpenMixup variant): top cells of a frozen
# pretrained ResNet-18 (put the ImageNet weights at data/pretrained/resnet18.pth; nothing is downloaded).
# OpenMixup benchmark row c100_rx50_800e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./c100_r18_800e_attentivemix.py']
model = dict(backbone=dict(model_name='resnext50_32x4d'))
optim_wrapper = dict(optimizer=dict(weight_decay=5e-4))  # OpenMixup: cutting-based methods on RX-50
