# CIFAR-100, CIFAR ResNet-18, 800 epochs, OpenMixup's recipe (RandomCrop 32 pad 4 + flip, batch 100, SGD 0.1,
# wd 1e-4, cosine to 0); reported as the median top-1 of the last 10 epochs.
_base_ = [
    '../../_base_/models/resnet18_cifar.py',
    '../../_base_/datasets/cifar100.py',
    '../../_base_/schedules/cifar_sgd_800e.py',
    '../../_base_/default_runtime.py',
]
model = dict(data_preprocessor=dict(mean=(129.304, 124.070, 112.434), std=(68.170, 65.392, 70.418)),
             head=dict(num_classes=100))
