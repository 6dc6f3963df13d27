"""Published top-1 (%) numbers as data: which config reproduces which row, the source, and the reporting convention.

Each row: ``(config stem, label, published top-1, verified)``. ``verified=False`` marks numbers that REFERENCE.md lists
as [UNVERIFIED] (to be read from the paper's PDF); ``None`` where no number is published for that setting.
Conventions: ``best`` (best epoch of the raw model), ``ema_best`` (best epoch of the EMA model), ``median_last_k``
(median of the last ``k`` epochs of the raw model).
"""
from __future__ import annotations

TABLES = {
    'transmix_table1': dict(
        title='TransMix Table 1: ImageNet-1k, 300 epochs, DeiT recipe (top-1 %)',
        source='Chen et al., "TransMix: Attend to Mix for Vision Transformers", CVPR 2022, Table 1 '
               '(values from ../shared/REFERENCE.md; DeiT-S, DeiT-B TransMix checked against OpenMixup / TransMix #14)',
        convention='ema_best', k=None,
        rows=[
            ('deit_t_baseline', 'DeiT-T', 72.2, False), ('deit_t_transmix', 'DeiT-T + TransMix', 72.6, False),
            ('deit_s_baseline', 'DeiT-S', 79.8, True), ('deit_s_transmix', 'DeiT-S + TransMix', 80.7, True),
            ('deit_s_transmix_official', 'DeiT-S + TransMix (official recipe)', 80.7, True),
            ('deit_b_baseline', 'DeiT-B', 81.8, False), ('deit_b_transmix', 'DeiT-B + TransMix', 82.4, True),
            # PVT rows: the paper's PVT v1; ours run timm PVT-v2 b1-b4 (+ class-attention head for TransMix)
            ('pvt_t_baseline', 'PVT-T', 75.1, False), ('pvt_t_transmix', 'PVT-T + TransMix', 75.5, True),
            ('pvt_s_baseline', 'PVT-S', 79.8, False), ('pvt_s_transmix', 'PVT-S + TransMix', 80.5, True),
            ('pvt_m_baseline', 'PVT-M', 81.2, False), ('pvt_m_transmix', 'PVT-M + TransMix', 82.1, False),
            ('pvt_l_baseline', 'PVT-L', 81.7, False), ('pvt_l_transmix', 'PVT-L + TransMix', 82.4, False),
            ('cait_xxs24_baseline', 'CaiT-XXS24', None, False), ('cait_xxs24_transmix', 'CaiT-XXS24 + TransMix', None, False),
            ('xcit_s12_baseline', 'XCiT-S12', None, False), ('xcit_s12_transmix', 'XCiT-S12 + TransMix', None, False),
            ('ca_swin_t_baseline', 'CA-Swin-T', None, False),
            ('ca_swin_t_transmix', 'CA-Swin-T + TransMix', 81.8, False),
        ]),
    'openmixup_imagenet_vit': dict(
        title='OpenMixup ImageNet-1k ViT rows, DeiT recipe, 300 epochs (top-1 %, best)',
        source='OpenMixup docs/en/mixup_benchmarks (mean of the best over 3 runs), via ../shared/REFERENCE.md',
        convention='best', k=None,
        rows=[
            ('deit_s_baseline', 'DeiT-S, DeiT (Mixup+CutMix)', 79.80, True),
            ('deit_s_transmix', 'DeiT-S, TransMix', 80.68, True),
            ('deit_t_baseline', 'DeiT-T, DeiT', 74.50, True), ('deit_t_transmix', 'DeiT-T, TransMix', 74.56, True),
            ('deit_b_baseline', 'DeiT-B, DeiT', 81.83, True), ('deit_b_transmix', 'DeiT-B, TransMix', 82.51, True),
            ('swin_t_baseline', 'Swin-T, DeiT', 81.20, True), ('ca_swin_t_transmix', 'Swin-T, TransMix (ours: CA-Swin)', 81.80, True),
        ]),
    'token_labeling': dict(
        title='Token Labeling: ImageNet-1k, 224 px, 300 epochs (top-1 %)',
        source='Jiang et al., "All Tokens Matter", NeurIPS 2021; LV-ViT README (via ../shared/REFERENCE.md)',
        convention='ema_best', k=None,
        rows=[('lvvit_t_token_labeling', 'LV-ViT-T + TL', 79.1, True),
              ('lvvit_s_token_labeling', 'LV-ViT-S + TL', 83.3, True),
              ('lvvit_m_token_labeling', 'LV-ViT-M + TL', 84.0, True),
              ('deit_s_token_labeling', 'DeiT-S + TL', None, False)]),
    'demo': dict(
        title='Built-in demo data (10 shape classes, 30 epochs, tiny conv-stem DeiT; our own runs, no paper value)',
        source='openmix configs/demo*.py', convention='best', k=None,
        rows=[('demo_cutmix', 'CutMix, area labels', None, True),
              ('demo_cutmix_transmix', 'CutMix, TransMix labels', None, True),
              ('demo', 'DeiT recipe + TransMix (main job)', None, True),
              ('demo_token_labeling', 'Token Labeling + MixToken (teacher: demo)', None, True)]),
}
