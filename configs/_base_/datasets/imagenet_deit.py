# ImageNet-1k with the DeiT recipe: RandomResizedCrop 224 (bicubic), flip, RandAugment rand-m9-mstd0.5-inc1
# (colour jitter is off when RandAugment is on, as in timm), then on the device: normalise and random erasing
# (model.data_preprocessor). Eval: resize 256 (bicubic) + centre crop 224. Batch 128 per GPU x 8 GPUs = 1024.
dataset_type = 'ImageNet'
data_root = 'data/imagenet'

train_pipeline = [
    dict(type='RandomResizedCrop', size=224, interpolation='bicubic'),
    dict(type='RandomHorizontalFlip', prob=0.5),
    dict(type='RandAugment', config_str='rand-m9-mstd0.5-inc1', img_mean=(124, 116, 104), interpolation='bicubic'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', size=256, interpolation='bicubic'),
    dict(type='CenterCrop', size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    pin_memory=True,
    persistent_workers=False,  # workers are re-seeded each epoch from the main RNG: exact resume
    drop_last=True,  # as DeiT's main.py and timm's train.py (TransMix, Token Labeling): no partial last batch
    sampler=dict(type='RepeatAugSampler', num_repeats=3, shuffle=True),  # DeiT's repeated augmentation
    collate_fn=dict(type='default_collate'),
    worker_init_fn=dict(type='openmix.seed_worker'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
