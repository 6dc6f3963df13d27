# PuzzleMix (Kim et al., ICML 2020): input-gradient saliency, graph-cut mask, optimal transport;
# needs PyMaxflow (pip install openmix[puzzlemix]) or SciPy.
# OpenMixup benchmark row tiny_r18_400e: its recipe and alpha (REFERENCE.md section 1).
# Tiny-ImageNet uses the CIFAR alphas and AutoMix min lr (OpenMixup's Tiny values are not in REFERENCE.md).
_base_ = ['./_base_/tiny_r18_400e.py']
model = dict(mixer=dict(type='PuzzleMix', alpha=1.0, t_size=4))
