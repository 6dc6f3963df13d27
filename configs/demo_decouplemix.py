# Demo comparison, DecoupleMix (Liu et al., NeurIPS 2023): configs/demo_cutmix.py (CutMix alpha 1, area labels, same
# seeds and epochs) with the decoupled mixup loss (eta 0.1 on the minority class, lam^0.5: OpenMixup's CutMix rows).
_base_ = ['./demo_cutmix.py']
model = dict(loss=dict(_delete_=True, type='DecoupledMixCrossEntropy', eta=0.1, mode='less', thr=0.5,
                       lam_scale_mode='pow', lam_thr=1.0, lam_idx=0.5))
