# Tiny-ImageNet-200, CIFAR-stem ResNet-18 at 64 px, 400 epochs, OpenMixup's recipe: RandomResizedCrop 64 + flip,
# batch 100, SGD 0.2, wd 1e-4, cosine to 0; reported as the median top-1 of the last 10 epochs.
_base_ = [
    '../../_base_/models/resnet18_cifar.py',
    '../../_base_/datasets/tiny_imagenet.py',
    '../../_base_/schedules/cifar_sgd_800e.py',
    '../../_base_/default_runtime.py',
]
model = dict(data_preprocessor=dict(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)),
             head=dict(num_classes=200))
optim_wrapper = dict(optimizer=dict(lr=0.2))
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=0, end=400,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=400)
