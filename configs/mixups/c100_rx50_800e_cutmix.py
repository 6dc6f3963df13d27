# CutMix (Yun et al., ICCV 2019), the official box rule.
# OpenMixup benchmark row c100_rx50_800e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/c100_rx50_800e.py']
model = dict(mixer=dict(type='CutMix', alpha=0.2, box_rule='clovaai', pairing='perm'))
optim_wrapper = dict(optimizer=dict(weight_decay=5e-4))  # OpenMixup: cutting-based methods on RX-50
