# ImageNet-1k, ResNet-50, 100 epochs (otherwise as in_r18_100e.py).
_base_ = ['./in_r18_100e.py']
model = dict(backbone=dict(model_name='resnet50'))
