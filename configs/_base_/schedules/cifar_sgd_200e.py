# CIFAR schedule (OpenMixup recipe): SGD lr 0.1, momentum 0.9, wd 1e-4, batch 100 on one GPU, cosine to 0.
optim_wrapper = dict(
    type='GuardedOptimWrapper',
    # fused: the non-finite guard skips bad steps on the device (no host sync per step)
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=False, fused=True),
)
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=0, end=200,
                        convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict(type='EMAValLoop')
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=100, enable=False)
