# CA-Swin-T baseline: Swin-T with a class-attention head (2 CaiT class-attention blocks on the last stage, see
# openmix/models/backbones/class_attention_head.py) and area labels: isolates the head from TransMix's labels.
_base_ = ['../deit_s_baseline.py']
model = dict(backbone=dict(_delete_=True, type='ClassAttentionHeadBackbone',
                           model_name='swin_tiny_patch4_window7_224', drop_path_rate=0.2, ca_blocks=2))
