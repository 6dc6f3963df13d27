# CutMix (Yun et al., ICCV 2019), the official box rule.
# OpenMixup benchmark row in_deit_s_300e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/in_deit_s_300e.py']
model = dict(mixer=dict(_delete_=True, type='CutMix', alpha=0.2, box_rule='clovaai', pairing='perm'))
