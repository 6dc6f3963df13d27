# AttentiveMix+ (Walawalkar et al., ICASSP 2020; OpenMixup variant): top cells of a frozen
# pretrained ResNet-18 (put the ImageNet weights at data/pretrained/resnet18.pth; nothing is downloaded).
# OpenMixup benchmark row c100_r18_200e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./c100_r18_800e_attentivemix.py']
train_cfg = dict(max_epochs=200)
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=0, end=200,
                        convert_to_iter_based=True)]
