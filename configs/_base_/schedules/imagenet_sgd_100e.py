# ImageNet ResNet schedule (OpenMixup recipe): SGD lr 0.1 @ batch 256, momentum 0.9, wd 1e-4, cosine to 0, 100 epochs.
_base_ = ['./cifar_sgd_200e.py']
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=0, end=100,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=100)
auto_scale_lr = dict(base_batch_size=256, enable=True)
