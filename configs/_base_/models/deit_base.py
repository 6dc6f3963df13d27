_base_ = ['./deit_small.py']
model = dict(backbone=dict(model_name='deit_base_patch16_224', drop_path_rate=0.1))
