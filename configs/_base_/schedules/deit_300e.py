# DeiT (Touvron et al., ICML 2021) schedule: AdamW lr 5e-4 x total_batch / 512, wd 0.05, 5 warm-up epochs from
# 1e-6, cosine to 1e-5, 300 epochs; EMA 0.99996 evaluated beside the raw model.
optim_wrapper = dict(
    type='GuardedOptimWrapper',  # a non-finite loss stops the run with its iteration (nonfinite='skip' skips)
    nonfinite='stop',
    # fused: the non-finite guard skips bad steps on the device (no host sync per step)
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05, betas=(0.9, 0.999), eps=1e-8, fused=True),
    constructor='OpenmixOptimWrapperConstructor',  # no decay on norms, biases, pos_embed, cls_token
    paramwise_cfg=dict(layer_decay=None),
)
param_scheduler = [
    dict(type='LinearWarmupLR', start_lr=1e-6, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict(type='EMAValLoop')
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512, enable=True)
custom_hooks = [dict(type='EMAHook', momentum=0.99996)]
