# PuzzleMix (Kim et al., ICML 2020): input-gradient saliency, graph-cut mask, optimal transport;
# needs PyMaxflow (pip install openmix[puzzlemix]) or SciPy.
# OpenMixup benchmark row c100_rx50_800e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./c100_r18_800e_puzzlemix.py']
model = dict(backbone=dict(model_name='resnext50_32x4d'))
optim_wrapper = dict(optimizer=dict(weight_decay=5e-4))  # OpenMixup: cutting-based methods on RX-50
