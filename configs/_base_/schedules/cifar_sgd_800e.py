_base_ = ['./cifar_sgd_200e.py']
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=0, end=800,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=800)
