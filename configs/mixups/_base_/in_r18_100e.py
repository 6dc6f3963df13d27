# ImageNet-1k, ResNet-18, 100 epochs, OpenMixup's ResNet recipe (RRC + flip, batch 256, SGD 0.1, cosine);
# reported as the median top-1 of the last 5 epochs.
_base_ = [
    '../../_base_/models/resnet18.py',
    '../../_base_/datasets/imagenet_resnet.py',
    '../../_base_/schedules/imagenet_sgd_100e.py',
    '../../_base_/default_runtime.py',
]
