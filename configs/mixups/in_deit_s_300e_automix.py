# AutoMix (Liu et al., ECCV 2022): MixBlock on the EMA encoder's stage-3 / block-6 features.
# OpenMixup benchmark row in_deit_s_300e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/in_deit_s_300e.py']
model = dict(
    _delete_=True,
    type='AutoMixClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', random_erasing=dict(prob=0.25, mode='pixel')),
    backbone=dict(type='TimmBackbone', model_name='deit_small_patch16_224', drop_path_rate=0.1),
    head=dict(type='LinearClsHead', num_classes=1000),
    loss=dict(type='SoftTargetCrossEntropy'),
    label_smoothing=0.1,
    mix_block=dict(type='MixBlock', lam_concat=True),
    mix_layer='blocks.5', alpha=2.0, momentum=0.999, mask_loss=0.1, lam_margin=0.08,
    switch_off=0.8)  # the MixBlock is trained on 80 % of the steps
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
# mmengine's constructor with the MixBlock in its own group (its own lr schedule) and no decay on
# norms/biases/tokens; a custom key turns flat_decay_mult off for the names it matches, so the MixBlock's
# biases and norms (SAMix: value.1 is a BatchNorm) get their own zero-decay keys (the longest key wins)
optim_wrapper = dict(constructor='DefaultOptimWrapperConstructor', paramwise_cfg=dict(
    _delete_=True, flat_decay_mult=0.0,
    custom_keys={'mix_block': dict(lr_mult=1.0), 'mix_block.query.bias': dict(decay_mult=0.0),
                 'mix_block.key.bias': dict(decay_mult=0.0), 'mix_block.value.bias': dict(decay_mult=0.0),
                 'mix_block.value.1.': dict(decay_mult=0.0),
                 'cls_token': dict(decay_mult=0.0), 'pos_embed': dict(decay_mult=0.0)}))
custom_hooks = [
    dict(type='AutoMixMomentumHook', end_momentum=0.99999, adjust_scope=(0.25, 1.0)),
    dict(type='AttrCosineAnnealingHook', attr_name='mask_loss', end=0.0, legacy_compound=True),
    # OpenMixup's addtional_scheduler names warmup_iters but no warmup policy: per-iteration cosine, no warm-up
    dict(type='MixBlockLrHook', min_lr=1e-4),
]
