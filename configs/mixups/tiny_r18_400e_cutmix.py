# CutMix (Yun et al., ICCV 2019), the official box rule.
# OpenMixup benchmark row tiny_r18_400e: its recipe and alpha (REFERENCE.md section 1).
# Tiny-ImageNet uses the CIFAR alphas and AutoMix min lr (OpenMixup's Tiny values are not in REFERENCE.md).
_base_ = ['./_base_/tiny_r18_400e.py']
model = dict(mixer=dict(type='CutMix', alpha=0.2, box_rule='clovaai', pairing='perm'))
