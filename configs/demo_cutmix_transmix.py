# Demo comparison, TransMix: CutMix only (alpha 1, every batch) with TransMix labels; same seeds and epochs as
# configs/demo_cutmix.py.
_base_ = ['./demo_cutmix.py']
model = dict(label_assigner=dict(_delete_=True, type='TransMixLabel', attn_weight=0.5))
