# CIFAR-100, CIFAR ResNet-18, 200 epochs (otherwise as c100_r18_800e.py).
_base_ = [
    '../../_base_/models/resnet18_cifar.py',
    '../../_base_/datasets/cifar100.py',
    '../../_base_/schedules/cifar_sgd_200e.py',
    '../../_base_/default_runtime.py',
]
model = dict(data_preprocessor=dict(mean=(129.304, 124.070, 112.434), std=(68.170, 65.392, 70.418)),
             head=dict(num_classes=100))
