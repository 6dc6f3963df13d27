# Mixup (Zhang et al., ICLR 2018).
# OpenMixup benchmark row in_deit_s_300e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/in_deit_s_300e.py']
model = dict(mixer=dict(_delete_=True, type='Mixup', alpha=0.2, pairing='perm'))
