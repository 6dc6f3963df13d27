# The main job on the built-in demo data (no download): TransMix on a tiny DeiT (64 px, patch 8, 4 blocks, width 64) with the
# full DeiT recipe (Mixup/CutMix switch, label smoothing, RandAugment, random erasing, AdamW + warm-up + cosine,
# EMA), sized to finish in about 4 minutes on 2 CPU cores (50 epochs of 2,000 images, 1,600 iterations).
_base_ = [
    './_base_/models/deit_small.py',
    './_base_/datasets/demo_shapes.py',
    './_base_/schedules/deit_300e.py',
    './_base_/default_runtime.py',
]
model = dict(
    # A convolutional patch stem (LV-ViT's, 32 channels, first convolution at stride 4) in place of the linear
    # patchify: a plain ViT this small stays at chance for many epochs on 2,000 images, the stem makes it trainable
    # in minutes (same 8 x 8 token grid). Width 64 (2 heads): a step costs ~0.19 s of one core at batch 64 (width
    # 128 with a stride-2 stem: 0.53 s), so 50 epochs fit where 30 did.
    backbone=dict(model_name='vit_tiny_patch16_224', img_size=64, patch_size=8, embed_dim=64, depth=4,
                  num_heads=2, drop_path_rate=0.05,
                  embed_layer=dict(type='ConvStemPatchEmbed', stem_channels=32, stem_stride=4)),
    head=dict(num_classes=10),
    mixer=dict(
        type='RandomMix',
        mixers=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)],
        switch_prob=0.5,
        prob=1.0,
        mode='batch',
    ),
    # TransMix (Chen et al., CVPR 2022): CutMix batches are labelled by 0.5 area + 0.5 class attention in the box
    label_assigner=dict(type='TransMixLabel', attn_weight=0.5),
)
optim_wrapper = dict(optimizer=dict(lr=1e-3), clip_grad=dict(max_norm=5.0))
max_epochs = 50
param_scheduler = [
    dict(type='LinearWarmupLR', start_lr=1e-6, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
auto_scale_lr = dict(base_batch_size=64, enable=True)
# EMA horizon ~100 of the run's 1,600 iterations (DeiT's 0.99996 is for ~375k iterations)
custom_hooks = [dict(type='EMAHook', momentum=0.99)]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=10))
