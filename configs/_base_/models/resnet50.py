# ResNet-50 (He et al., CVPR 2016), timm `resnet50`; plain CE with no smoothing and no erasing (OpenMixup IN recipe).
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor'),
    backbone=dict(type='TimmBackbone', model_name='resnet50'),
    head=dict(type='LinearClsHead', num_classes=1000, init_std=0.01),
    loss=dict(type='SoftTargetCrossEntropy'),
    label_smoothing=0.0,
)
