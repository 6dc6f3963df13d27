# TransMix Table 1 row PVT-S, TransMix. timm's PVT-v2 has no class token, so (documented fallback) a class-attention
# head reads the last stage (ClassAttentionHeadBackbone, as for CA-Swin) and TransMix reads its attention.
# Paper top-1 (PVT-S, PVT v1): 80.5.
_base_ = ['./pvt_s_baseline.py']
model = dict(backbone=dict(_delete_=True, type='ClassAttentionHeadBackbone', model_name='pvt_v2_b2',
                           drop_path_rate=0.1, ca_blocks=2),
             label_assigner=dict(type='TransMixLabel', attn_weight=0.5))
