# ImageNet-1k, OpenMixup's ResNet recipe: RandomResizedCrop 224 (bicubic) + flip only; eval resize 256 + centre
# crop 224. Batch 32 per GPU x 8 GPUs = 256.
_base_ = ['./imagenet_deit.py']
train_pipeline = [
    dict(type='RandomResizedCrop', size=224, interpolation='bicubic'),
    dict(type='RandomHorizontalFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
                        dataset=dict(pipeline=train_pipeline))
