# SUMix (Qin et al., ECCV 2024) over CutMix: official README CIFAR-100 R-18 79.78 (CutMix 78.17); settings of the
# official configs/classification/cifar100/mixups/uncertain/r18_mixups_none.py (alpha 0.2, gama 0.5, 800 epochs),
# with the official loss's batch-mean weighting (legacy_batch_mean).
_base_ = ['./c100_r18_800e_cutmix.py']
model = dict(type='SUMixClassifier', label_assigner=dict(type='SUMixLabel', legacy_batch_mean=True),
             uncertainty=dict(gamma=0.5))
