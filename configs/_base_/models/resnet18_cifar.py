# CIFAR ResNet-18: timm `resnet18` with a 3x3/1 stem and no max-pool (the usual CIFAR variant, OpenMixup's
# ResNet_CIFAR), CIFAR mean/std on the device.
_base_ = ['./resnet50.py']
model = dict(
    data_preprocessor=dict(mean=(125.307, 122.961, 113.8575), std=(51.5865, 50.847, 51.255)),
    backbone=dict(model_name='resnet18', cifar_stem=True),
    head=dict(num_classes=100),
)
