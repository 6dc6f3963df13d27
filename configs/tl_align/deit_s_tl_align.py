# TL-Align (Xiao et al., ICCV 2023), ImageNet-1k DeiT-S, 300 epochs: the official train_deit_small_tla.sh recipe
# (DeiT's defaults; main_tla.py's --mixup 0 and --cutmix 1.0: CutMix in every batch, flip pairing) with token labels
# traced through the attention layers. The official CutMix box lies on the token grid; ours is timm's pixel box
# (tokens start with the covered fraction, see TLAlignLabel). Published top-1: 80.6 (official README; DeiT-S 79.8).
_base_ = ['../deit_s_baseline.py']
model = dict(mixer=dict(_delete_=True, type='CutMix', alpha=1.0),
             label_assigner=dict(type='TLAlignLabel'))
