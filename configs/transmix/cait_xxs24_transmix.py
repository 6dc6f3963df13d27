# TransMix Table 1 row CaiT-XXS24, TransMix: the baseline row with TransMix labels on CutMix batches.
# Published top-1: [UNVERIFIED] (read from the paper's PDF).
_base_ = ['./cait_xxs24_baseline.py']
model = dict(label_assigner=dict(type='TransMixLabel', attn_weight=0.5))
