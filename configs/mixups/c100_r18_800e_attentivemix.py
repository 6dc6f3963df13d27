# AttentiveMix+ (Walawalkar et al., ICASSP 2020; OpenMixup variant): top cells of a frozen
# pretrained ResNet-18 (put the ImageNet weights at data/pretrained/resnet18.pth; nothing is downloaded).
# OpenMixup benchmark row c100_r18_800e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/c100_r18_800e.py']
model = dict(mixer=dict(type='AttentiveMix', alpha=2.0, model_name='resnet18',
                         checkpoint='data/pretrained/resnet18.pth',
                         legacy_train_bn=True,  # OpenMixup's pretrained net normalises with batch statistics
                         legacy_shared_lam=True))  # and every sample gets sample 0's pixel share as lam
# Corrected for new work: legacy_train_bn=False, legacy_shared_lam=False (each sample's own share).
