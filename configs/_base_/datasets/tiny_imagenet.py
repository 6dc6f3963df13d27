# Tiny-ImageNet-200 (release layout under data/tiny-imagenet-200, see docs/datasets.md), OpenMixup's recipe: 64 px,
# RandomResizedCrop 64 + flip, batch 100; val images as they are (64 x 64). Loaders as CIFAR's; normalisation on the
# device (model.data_preprocessor mean/std: ImageNet's).
_base_ = ['./cifar10.py']
dataset_type = 'TinyImageNet'
data_root = 'data/tiny-imagenet-200'
train_pipeline = [
    dict(type='RandomResizedCrop', size=64, interpolation='bicubic'),
    dict(type='RandomHorizontalFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, split='val'))
test_dataloader = val_dataloader
