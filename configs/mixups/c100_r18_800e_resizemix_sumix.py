# SUMix (Qin et al., ECCV 2024) over ResizeMix: official README CIFAR-100 R-18 80.38 (ResizeMix 80.01); alpha 1.0,
# gama 0.5, the official loss's batch-mean weighting (legacy_batch_mean).
_base_ = ['./c100_r18_800e_resizemix.py']
model = dict(type='SUMixClassifier', label_assigner=dict(type='SUMixLabel', legacy_batch_mean=True),
             uncertainty=dict(gamma=0.5))
