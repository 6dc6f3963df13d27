# AttentiveMix+ (Walawalkar et al., ICASSP 2020; OpenMixup variant): top cells of a frozen
# pretrained ResNet-18 (put the ImageNet weights at data/pretrained/resnet18.pth; nothing is downloaded).
# OpenMixup benchmark row in_deit_s_300e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/in_deit_s_300e.py']
model = dict(mixer=dict(_delete_=True, type='AttentiveMix', alpha=2.0, model_name='resnet18',
                         checkpoint='data/pretrained/resnet18.pth',
                         legacy_train_bn=True,  # OpenMixup's pretrained net normalises with batch statistics
                         legacy_shared_lam=True))  # and every sample gets sample 0's pixel share as lam
# Corrected for new work: legacy_train_bn=False, legacy_shared_lam=False (each sample's own share).
