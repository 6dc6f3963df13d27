# TransMix Table 1 row PVT-L, baseline, on the DeiT recipe. The paper used PVT (v1), whose last stage carries a
# class token; timm has only PVT-v2 (mean-pooled), so this row uses timm `pvt_v2_b4` of similar size, and its
# numbers are not the paper's model. Paper top-1 (PVT-L, v1): 81.7 [UNVERIFIED].
_base_ = ['../deit_s_baseline.py']
model = dict(backbone=dict(model_name='pvt_v2_b4', drop_path_rate=0.3))
