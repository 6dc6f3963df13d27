_base_ = ['./resnet50.py']
model = dict(backbone=dict(model_name='resnet18'))
