# no mixing.
# OpenMixup benchmark row in_r50_100e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/in_r50_100e.py']
model = dict(mixer=None)
