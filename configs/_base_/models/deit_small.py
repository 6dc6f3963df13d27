# DeiT-S/16 (Touvron et al., ICML 2021): timm `deit_small_patch16_224`, drop path 0.1, label smoothing 0.1,
# random erasing 0.25 (pixel mode) on the device, soft-target cross-entropy. No mixer here: configs add one.
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', random_erasing=dict(prob=0.25, mode='pixel')),
    backbone=dict(type='TimmBackbone', model_name='deit_small_patch16_224', drop_path_rate=0.1),
    head=dict(type='LinearClsHead', num_classes=1000),
    loss=dict(type='SoftTargetCrossEntropy'),
    label_smoothing=0.1,
)
