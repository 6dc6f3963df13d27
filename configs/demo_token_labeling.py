# Token Labeling + MixToken (Jiang et al., NeurIPS 2021) on the built-in demo data: the tiny LV-ViT of
# configs/demo_lvvit.py with an auxiliary token head, trained on dense label maps made by a teacher trained with the
# configs/demo.py recipe (configs/demo_token_labeling_teacher.py: its classifier reads the mean of the patch tokens,
# so every token's logits are a valid dense annotation). configs/demo_lvvit.py is the same model and recipe without
# token labeling.
#   python tools/train.py configs/demo_token_labeling_teacher.py
#   python tools/gen_token_labels.py configs/demo_token_labeling.py --teacher configs/demo_token_labeling_teacher.py \
#       --checkpoint work_dirs/demo_token_labeling_teacher/epoch_50.pth --ema --img-size 64 --out data/demo_token_labels
#   python tools/train.py configs/demo_token_labeling.py
# The official order: flip -> RandAugment (its geometric ops move the label map too) -> RandomResizedCrop last,
# carried as coordinates and applied to the map when targets are made.
_base_ = ['./demo.py']
label_root = 'data/demo_token_labels'
model = dict(
    _delete_=True,
    type='TokenLabelClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', random_erasing=dict(prob=0.25, mode='pixel')),
    backbone=dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=64, patch_size=8, embed_dim=64,
                  depth=4, num_heads=2, mlp_ratio=3.0, qkv_bias=False, drop_path_rate=0.05,
                  embed_layer=dict(type='ConvStemPatchEmbed', stem_channels=32, stem_stride=4),
                  block_fn=dict(type='ScaledResidualBlock', skip_lam=2.0)),
    head=dict(type='LinearClsHead', num_classes=10),
    loss=dict(type='TokenLabelLoss', cls_weight=1.0, dense_weight=1.0),
    label_smoothing=0.1,
    mix_token=True,
    cls_target='teacher',
)
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadTokenLabel', label_root=label_root, fmt='packed', split='train'),
    dict(type='RandomHorizontalFlip', prob=0.5),
    dict(type='RandAugment', config_str='rand-m9-mstd0.5-inc1', img_mean=(124, 116, 104), interpolation='bicubic',
         img_size=64),
    dict(type='RandomResizedCrop', size=64, scale=(0.35, 1.0), interpolation='bicubic'),
    dict(type='NormaliseCrop'),
    dict(type='PackInputs', meta_keys=('label_values', 'label_indices', 'crop')),
]))
