# PuzzleMix (Kim et al., ICML 2020): input-gradient saliency, graph-cut mask, optimal transport;
# needs PyMaxflow (pip install openmix[puzzlemix]) or SciPy.
# OpenMixup benchmark row in_r50_100e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./in_r18_100e_puzzlemix.py']
model = dict(backbone=dict(model_name='resnet50'))
