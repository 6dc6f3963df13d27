# no mixing.
# OpenMixup benchmark row in_r18_100e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/in_r18_100e.py']
model = dict(mixer=None)
