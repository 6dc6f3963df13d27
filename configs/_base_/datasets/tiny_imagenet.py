# Tiny-ImageNet-200 (release layout under data/tiny-imagenet-200, see docs/datasets.md), OpenMixup's recipe: 64 px,
# RandomResizedCrop 64 + flip, batch 100; val images as they are (64 x 64). Normalisation on the device
# (model.data_preprocessor mean/std: ImageNet's).
dataset_type = 'TinyImageNet'
data_root = 'data/tiny-imagenet-200'
train_pipeline = [
    dict(type='RandomResizedCrop', size=64, interpolation='bicubic'),
    dict(type='RandomHorizontalFlip', prob=0.5),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=100,
    num_workers=4,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    worker_init_fn=dict(type='openmix.seed_worker'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=100,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
