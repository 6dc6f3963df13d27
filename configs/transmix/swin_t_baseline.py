# Swin-T baseline on the DeiT recipe (OpenMixup ImageNet row: 81.20, best; Swin paper: 81.3).
_base_ = ['../deit_s_baseline.py']
model = dict(backbone=dict(model_name='swin_tiny_patch4_window7_224', drop_path_rate=0.2))
