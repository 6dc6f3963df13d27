# CIFAR-100 (official python pickles under data/cifar100/cifar-100-python), same recipe as CIFAR-10.
_base_ = ['./cifar10.py']
dataset_type = 'CIFAR100'
data_root = 'data/cifar100'
cifar_mean = (129.304, 124.070, 112.434)
cifar_std = (68.170, 65.392, 70.418)
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
