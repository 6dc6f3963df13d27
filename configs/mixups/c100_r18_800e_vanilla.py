# no mixing.
# OpenMixup benchmark row c100_r18_800e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/c100_r18_800e.py']
model = dict(mixer=None)
