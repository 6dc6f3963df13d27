# TransMix Table 1 row PVT-L, TransMix. timm's PVT-v2 has no class token, so (documented fallback) a class-attention
# head reads the last stage (ClassAttentionHeadBackbone, as for CA-Swin) and TransMix reads its attention.
# Paper top-1 (PVT-L, PVT v1): 82.4.
_base_ = ['./pvt_l_baseline.py']
model = dict(backbone=dict(_delete_=True, type='ClassAttentionHeadBackbone', model_name='pvt_v2_b4',
                           drop_path_rate=0.3, ca_blocks=2),
             label_assigner=dict(type='TransMixLabel', attn_weight=0.5))
