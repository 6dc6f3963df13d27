# Demo comparison, SUMix (Qin et al., ECCV 2024): configs/demo_cutmix.py (CutMix alpha 1, same seeds and epochs) with
# SUMix's re-estimated ratio (per sample) and uncertainty regulariser (gamma 0.5).
_base_ = ['./demo_cutmix.py']
model = dict(type='SUMixClassifier', label_assigner=dict(_delete_=True, type='SUMixLabel'),
             uncertainty=dict(gamma=0.5))
