# CutMix (Yun et al., ICCV 2019), the official box rule.
# OpenMixup benchmark row c100_r18_200e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/c100_r18_200e.py']
model = dict(mixer=dict(type='CutMix', alpha=0.2, box_rule='clovaai', pairing='perm'))
