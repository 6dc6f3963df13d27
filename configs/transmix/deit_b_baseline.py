# TransMix Table 1 row DeiT-B, baseline: DeiT recipe (Mixup/CutMix switch 0.5, smoothing 0.1), 300 epochs.
# Published top-1: 81.8 (REFERENCE.md; [UNVERIFIED] values are to be read from the paper's PDF).
_base_ = ['../deit_s_baseline.py']
model = dict(backbone=dict(model_name='deit_base_patch16_224', drop_path_rate=0.1))
