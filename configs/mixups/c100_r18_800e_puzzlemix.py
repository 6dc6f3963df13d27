# PuzzleMix (Kim et al., ICML 2020): input-gradient saliency, graph-cut mask, optimal transport;
# needs PyMaxflow (pip install openmix[puzzlemix]) or SciPy.
# OpenMixup benchmark row c100_r18_800e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/c100_r18_800e.py']
model = dict(mixer=dict(type='PuzzleMix', alpha=1.0, t_size=4))
