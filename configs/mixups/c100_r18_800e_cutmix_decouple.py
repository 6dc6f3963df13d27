# DecoupleMix (Liu et al., NeurIPS 2023): CutMix with the decoupled mixup loss, OpenMixup's
# configs/classification/cifar100/mixups/decouple/r18/r18_cutmix_CE_soft_decouple_a0_2_ep800.py (alpha 0.2,
# eta 0.1 on the minority class, lam^0.5).
_base_ = ['./c100_r18_800e_cutmix.py']
model = dict(loss=dict(type='DecoupledMixCrossEntropy', eta=0.1, mode='less', thr=0.5, lam_scale_mode='pow',
                       lam_thr=1.0, lam_idx=0.5))
