# CutMix (Yun et al., ICCV 2019), the official box rule.
# OpenMixup benchmark row in_r18_100e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/in_r18_100e.py']
model = dict(mixer=dict(type='CutMix', alpha=1.0, box_rule='clovaai', pairing='perm'))
