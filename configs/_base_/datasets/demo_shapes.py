# Built-in demo data: 10 classes of shapes at random position/scale on cluttered backgrounds, generated on first
# use under data/demo_shapes_hue (no download). Same loader as ImageNet; DeiT-style recipe scaled to 64 px.
# class_colour_prob=1: each object wears its class's hue (random saturation and brightness), an easy cue that only
# the object's pixels carry. Without it (shape and a 75 % class texture only) the demo ViT stays near chance for
# ~250 iterations and ended at 38 % after 960; with it, 38 % after 128 iterations.
dataset_type = 'DemoShapes'
data_root = 'data/demo_shapes_hue'
demo_args = dict(num_classes=10, train_per_class=200, val_per_class=50, image_size=64, seed=0, class_colour_prob=1.0)

train_pipeline = [
    dict(type='RandomResizedCrop', size=64, scale=(0.35, 1.0), interpolation='bicubic'),
    dict(type='RandomHorizontalFlip', prob=0.5),
    dict(type='RandAugment', config_str='rand-m9-mstd0.5-inc1', img_mean=(124, 116, 104), interpolation='bicubic',
         img_size=64),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    worker_init_fn=dict(type='openmix.seed_worker'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline, **demo_args),
)
val_dataloader = dict(
    batch_size=250,
    num_workers=1,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline, **demo_args),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
