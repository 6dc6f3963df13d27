# TransMix Table 1 row DeiT-T, TransMix: the baseline row with TransMix labels on CutMix batches.
# Published top-1: 72.6.
_base_ = ['./deit_t_baseline.py']
model = dict(label_assigner=dict(type='TransMixLabel', attn_weight=0.5))
