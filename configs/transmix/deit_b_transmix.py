# TransMix Table 1 row DeiT-B, TransMix: the baseline row with TransMix labels on CutMix batches.
# Published top-1: 82.4.
_base_ = ['./deit_b_baseline.py']
model = dict(label_assigner=dict(type='TransMixLabel', attn_weight=0.5))
