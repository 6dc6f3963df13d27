# PVT-v2-b2 (Wang et al., CVMJ 2022), mean-pooled pyramid ViT.
_base_ = ['./deit_small.py']
model = dict(backbone=dict(model_name='pvt_v2_b2', drop_path_rate=0.1))
