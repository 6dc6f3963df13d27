# PuzzleMix (Kim et al., ICML 2020): input-gradient saliency, graph-cut mask, optimal transport;
# needs PyMaxflow (pip install openmix[puzzlemix]) or SciPy.
# OpenMixup benchmark row c100_r18_200e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./c100_r18_800e_puzzlemix.py']
train_cfg = dict(max_epochs=200)
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=0, end=200,
                        convert_to_iter_based=True)]
