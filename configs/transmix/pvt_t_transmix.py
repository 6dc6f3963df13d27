# TransMix Table 1 row PVT-T, TransMix. timm's PVT-v2 has no class token, so (documented fallback) a class-attention
# head reads the last stage (ClassAttentionHeadBackbone, as for CA-Swin) and TransMix reads its attention.
# Paper top-1 (PVT-T, PVT v1): 75.5.
_base_ = ['./pvt_t_baseline.py']
model = dict(backbone=dict(_delete_=True, type='ClassAttentionHeadBackbone', model_name='pvt_v2_b1',
                           drop_path_rate=0.1, ca_blocks=2),
             label_assigner=dict(type='TransMixLabel', attn_weight=0.5))
