# CIFAR-10 (official python pickles under data/cifar10/cifar-10-batches-py): RandomCrop 32 pad 4 (reflect) + flip,
# batch 100 (OpenMixup recipe). Normalisation happens on the device (model.data_preprocessor mean/std).
dataset_type = 'CIFAR10'
data_root = 'data/cifar10'
cifar_mean = (125.307, 122.961, 113.8575)
cifar_std = (51.5865, 50.847, 51.255)

train_pipeline = [
    dict(type='RandomCrop', size=32, padding=4, padding_mode='reflect'),
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
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
