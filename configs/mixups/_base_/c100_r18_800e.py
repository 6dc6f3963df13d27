# CIFAR-100, CIFAR ResNet-18, 800 epochs, OpenMixup's recipe (RandomCrop 32 pad 4 + flip, batch 100, SGD 0.1,
# wd 1e-4, cosine to 0); reported as the median top-1 of the last 10 epochs.
_base_ = [
    '../../_base_/models/resnet18_cifar.py',
    '../../_base_/datasets/cifar100.py',
    '../../_base_/schedules/cifar_sgd_800e.py',
    '../../_base_/default_runtime.py',
]
# OpenMixup normalises CIFAR-100 with the CIFAR-10 statistics (mean .4914/.4822/.4465, std .2023/.1994/.201)
model = dict(data_preprocessor=dict(mean=(125.307, 122.961, 113.8575), std=(51.5865, 50.847, 51.255)),
             head=dict(num_classes=100))
