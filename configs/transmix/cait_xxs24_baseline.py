# TransMix Table 1 row CaiT-XXS24, baseline: DeiT recipe (Mixup/CutMix switch 0.5, smoothing 0.1), 300 epochs.
# Published top-1: [UNVERIFIED] (REFERENCE.md; [UNVERIFIED] values are to be read from the paper's PDF).
_base_ = ['../deit_s_baseline.py']
model = dict(backbone=dict(model_name='cait_xxs24_224', drop_path_rate=0.05))
