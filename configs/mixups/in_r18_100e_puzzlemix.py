# PuzzleMix (Kim et al., ICML 2020): input-gradient saliency, graph-cut mask, optimal transport;
# needs PyMaxflow (pip install openmix[puzzlemix]) or SciPy.
# OpenMixup benchmark row in_r18_100e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/in_r18_100e.py']
model = dict(mixer=dict(type='PuzzleMix', alpha=1.0, block_num=(2, 4, 8)))
