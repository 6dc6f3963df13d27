# no mixing.
# OpenMixup benchmark row in_deit_s_300e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/in_deit_s_300e.py']
model = dict(mixer=None)
