# Swin-T (Liu et al., ICCV 2021): window attention, drop path 0.2.
_base_ = ['./deit_small.py']
model = dict(backbone=dict(model_name='swin_tiny_patch4_window7_224', drop_path_rate=0.2))
