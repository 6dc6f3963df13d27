# AttentiveMix+ (Walawalkar et al., ICASSP 2020; OpenMixup variant): top cells of a frozen
# pretrained ResNet-18 (put the ImageNet weights at data/pretrained/resnet18.pth; nothing is downloaded).
# OpenMixup benchmark row in_r50_100e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./in_r18_100e_attentivemix.py']
model = dict(backbone=dict(model_name='resnet50'))
