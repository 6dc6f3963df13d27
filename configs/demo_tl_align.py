# Demo comparison, TL-Align (Xiao et al., ICCV 2023): CutMix only (alpha 1, every batch, as the official recipe's
# --cutmix 1.0 --mixup 0) with each token's label traced through the attention of every block; the class token's
# traced label is the target. Same seeds and epochs as configs/demo_cutmix.py.
_base_ = ['./demo_cutmix.py']
model = dict(label_assigner=dict(_delete_=True, type='TLAlignLabel'))
