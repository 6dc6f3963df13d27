# ImageNet with token labels (official order: flip -> RandAugment, which moves the maps too -> RandomResizedCrop
# last, carried as coordinates). Maps: the released NFNet-F6 top-5 maps in the official layout
# (<label_root>/<wnid>/<stem>.pt), or maps made by tools/gen_token_labels.py (fmt='packed' for the packed files).
_base_ = ['./imagenet_deit.py']
label_root = 'data/imagenet/label_top5_train_nfnet'
train_pipeline = [
    dict(type='LoadTokenLabel', label_root=label_root, fmt='official'),
    dict(type='RandomHorizontalFlip', prob=0.5),
    dict(type='RandAugment', config_str='rand-m9-mstd0.5-inc1', img_mean=(124, 116, 104), interpolation='bicubic'),
    dict(type='RandomResizedCrop', size=224, interpolation='bicubic'),
    dict(type='NormaliseCrop'),
    dict(type='PackInputs', meta_keys=('label_values', 'label_indices', 'crop')),
]
train_dataloader = dict(sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
                        dataset=dict(pipeline=train_pipeline))
