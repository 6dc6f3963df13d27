# XCiT-S12/16 (El-Nouby et al., NeurIPS 2021): cross-covariance attention + class-attention layers.
_base_ = ['./deit_small.py']
model = dict(backbone=dict(model_name='xcit_small_12_p16_224', drop_path_rate=0.05))
