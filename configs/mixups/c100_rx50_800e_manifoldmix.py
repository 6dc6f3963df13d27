# ManifoldMix (Verma et al., ICML 2019): hidden states of a random stage in {input, layer1, layer2}.
# OpenMixup benchmark row c100_rx50_800e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./c100_r18_800e_manifoldmix.py']
model = dict(backbone=dict(model_name='resnext50_32x4d'))
