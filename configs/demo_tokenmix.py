# Demo comparison, TokenMix (Liu et al., ECCV 2022): block token masks on the 8 x 8 token grid every batch (the
# official lam 0.5 + minimum tokens, 14 of 196 scaled to 5 of 64), token-area labels (no teacher: the demo has no
# pre-trained one; set label_assigner.teacher=dict(config=..., checkpoint=...) to use one). Same seeds and epochs as
# configs/demo_cutmix.py.
_base_ = ['./demo_cutmix.py']
model = dict(mixer=dict(_delete_=True, type='TokenMix', lam=0.5, minimum_tokens=5, grid_size=8),
             label_assigner=dict(_delete_=True, type='TokenMixLabel', teacher=None))
