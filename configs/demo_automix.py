# Demo comparison: AutoMix (Liu et al., ECCV 2022) on the tiny DeiT of configs/demo.py, same data, recipe, seeds
# and epochs as configs/demo_cutmix.py (CutMix) and configs/demo_puzzlemix.py (PuzzleMix):
#   python tools/train.py configs/demo_automix.py
# The MixBlock reads block 2 of 4 of the EMA encoder (DeiT-S: block 6 of 12). The k encoder's momentum is scaled
# to this 1,600-iteration run (0.99, cosine to 0.999 from 10 %; ImageNet's 0.999 would leave it near its
# initialisation for the whole run).
_base_ = ['./demo.py']
model = dict(
    _delete_=True,
    type='AutoMixClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', random_erasing=dict(prob=0.25, mode='pixel')),
    backbone=dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=64, patch_size=8, embed_dim=64,
                  depth=4, num_heads=2, drop_path_rate=0.05,
                  embed_layer=dict(type='ConvStemPatchEmbed', stem_channels=32, stem_stride=4)),
    head=dict(type='LinearClsHead', num_classes=10),
    loss=dict(type='SoftTargetCrossEntropy'),
    label_smoothing=0.1,
    mix_block=dict(type='MixBlock', lam_concat=True),
    mix_layer='blocks.1', alpha=2.0, momentum=0.99, mask_loss=0.1, lam_margin=0.08,
)
custom_hooks = [dict(type='EMAHook', momentum=0.99),
                dict(type='AutoMixMomentumHook', end_momentum=0.999, adjust_scope=(0.1, 1.0))]
