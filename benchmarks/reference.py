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
    'tl_align_mixpro_imagenet': dict(
        title='TL-Align / MixPro: ImageNet-1k DeiT, 300 epochs, DeiT recipe (top-1 %)',
        source='TL-Align README (github.com/Euphoria16/TL-Align: DeiT-T 72.2 -> 73.2, DeiT-S 79.8 -> 80.6); MixPro '
               'abstract (arXiv 2304.12043: DeiT-T 73.8; its DeiT-S value not verified here)',
        convention='best', k=None,
        rows=[('deit_t_baseline', 'DeiT-T, DeiT', 72.2, True), ('deit_t_tl_align', 'DeiT-T + TL-Align', 73.2, True),
              ('deit_t_mixpro', 'DeiT-T/14 + MixPro', 73.8, True),
              ('deit_s_baseline', 'DeiT-S, DeiT', 79.8, True), ('deit_s_tl_align', 'DeiT-S + TL-Align', 80.6, True),
              ('deit_s_mixpro', 'DeiT-S/14 + MixPro', None, False)]),
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
              ('demo_tl_align', 'CutMix, TL-Align labels (same recipe and seeds as demo_cutmix)', None, True),
              ('demo_mixpro', 'MixPro: MaskMix/CutMix switch, PAL labels (as demo_cutmix)', None, True),
              ('demo', 'DeiT recipe + TransMix (main job)', None, True),
              ('demo_lvvit', 'tiny LV-ViT, DeiT recipe (Mixup/CutMix, area labels)', None, True),
              ('demo_token_labeling_teacher', 'mean-pooled tiny DeiT (the token-label annotator)', None, True),
              ('demo_token_labeling', 'tiny LV-ViT, Token Labeling + MixToken', None, True),
              ('demo_puzzlemix', 'PuzzleMix (same recipe and seeds as demo_cutmix)', None, True),
              ('demo_automix', 'AutoMix (same recipe and seeds as demo_cutmix)', None, True),
              ('demo_adautomix', 'AdAutoMix (same recipe and seeds as demo_cutmix)', None, True),
              ('demo_decouplemix', 'CutMix + DecoupleMix loss (as demo_cutmix)', None, True),
              ('demo_sumix', 'CutMix + SUMix ratio and regulariser (as demo_cutmix)', None, True),
              ('demo_tokenmix', 'TokenMix, token-area labels (same recipe and seeds as demo_cutmix)', None, True),
              ('demo_smmix', 'SMMix + Mixup switch, fine-grained + consistency losses (as demo_cutmix)', None,
               True)]),
    'tokenmix_smmix_imagenet': dict(
        title='TokenMix / SMMix: ImageNet-1k DeiT-S, 300 epochs, DeiT recipe (top-1 %)',
        source='TokenMix README (github.com/Sense-X/TokenMix; OpenMixup Mixup_imagenet.md reprints 80.80), SMMix '
               'README (github.com/ChenMnZ/SMMix), via ../shared/REFERENCE.md',
        convention='best', k=None,
        rows=[('deit_s_baseline', 'DeiT-S, DeiT (Mixup+CutMix)', 79.8, True),
              ('deit_s_tokenmix', 'DeiT-S + TokenMix (ours: online ResNet-50 teacher)', 80.8, True),
              ('deit_s_smmix', 'DeiT-S + SMMix', 81.1, True)]),
}

# OpenMixup benchmark rows (docs/en/mixup_benchmarks/*.md, [V] in ../shared/REFERENCE.md section 3); config stems are
# configs/mixups/<setting>_<method>.py. Columns: Vanilla, Mixup, CutMix, ManifoldMix, PuzzleMix, AttentiveMix,
# AutoMix, SAMix (None where the table has no value).
MIXUP_METHODS = ['vanilla', 'mixup', 'cutmix', 'manifoldmix', 'puzzlemix', 'attentivemix', 'automix', 'samix']
METHOD_LABELS = dict(vanilla='Vanilla', mixup='Mixup', cutmix='CutMix', manifoldmix='ManifoldMix',
                     puzzlemix='PuzzleMix', attentivemix='AttentiveMix+', automix='AutoMix', samix='SAMix')
MIXUP_SETTINGS = {
    # setting: (title, convention, k, [published per method in MIXUP_METHODS order])
    'c100_r18_800e': ('CIFAR-100, ResNet-18, 800 epochs', 'median_last_k', 10,
                      [78.04, 79.12, 78.17, 80.35, 81.13, None, 82.04, 82.30]),
    'c100_r18_200e': ('CIFAR-100, ResNet-18, 200 epochs', 'median_last_k', 10,
                      [76.42, 78.52, 79.45, None, 79.96, None, 80.12, 81.21]),
    'c100_rx50_800e': ('CIFAR-100, ResNeXt-50 (32x4d), 800 epochs', 'median_last_k', 10,
                       [81.09, 82.10, 78.32, None, 82.85, None, 83.64, 84.42]),
    'tiny_r18_400e': ('Tiny-ImageNet, ResNet-18, 400 epochs', 'median_last_k', 10,
                      [61.68, 63.86, 65.53, None, 65.81, None, 67.33, 68.89]),
    'in_r18_100e': ('ImageNet-1k, ResNet-18, 100 epochs', 'median_last_k', 5,
                    [70.04, 69.98, 68.95, None, 70.12, None, 70.50, 70.83]),
    'in_r50_100e': ('ImageNet-1k, ResNet-50, 100 epochs', 'median_last_k', 5,
                    [76.83, 77.12, 77.17, None, 77.54, None, 77.91, 78.14]),
    'in_deit_s_300e': ('ImageNet-1k, DeiT-S, 300 epochs, DeiT recipe', 'best', None,
                       [75.66, None, 80.13, None, 80.45, None, 80.78, 80.94]),
}
# The other OpenMixup mixers of the CIFAR-100 R-18 800-epoch table (configs run their reference flags), read from
# OpenMixup docs/en/mixup_benchmarks/Mixup_cifar.md at commit 37e1372 (FMix, SaliencyMix, ResizeMix also in
# ../shared/REFERENCE.md section 3; AttentiveMix+ 78.91 there too, but ours needs ImageNet weights for it).
MIXUP_EXTRA_ROWS = {
    'c100_r18_800e': [('fmix', 'FMix*', 79.69, True), ('gridmix', 'GridMix', 78.72, True),
                      ('saliencymix', 'SaliencyMix', 79.12, True), ('resizemix', 'ResizeMix', 80.01, True),
                      ('smoothmix', 'SmoothMix', 78.69, True)],
}
for _setting, (_title, _conv, _k, _values) in MIXUP_SETTINGS.items():
    TABLES[f'openmixup_{_setting}'] = dict(
        title=f'OpenMixup benchmark: {_title} (top-1 %)',
        source='OpenMixup docs/en/mixup_benchmarks (AutoMix, Liu et al., ECCV 2022; SAMix, Li et al.), via '
               '../shared/REFERENCE.md section 3',
        convention=_conv, k=_k,
        rows=[(f'{_setting}_{m}', METHOD_LABELS[m], v, True) for m, v in zip(MIXUP_METHODS, _values)]
        + [(f'{_setting}_{m}', label, v, ok) for m, label, v, ok in MIXUP_EXTRA_ROWS.get(_setting, [])])

# AdAutoMix, DecoupleMix, SUMix (issue 13): values read from the official READMEs (commits in the source); DecoupleMix
# has configs in OpenMixup but no value in its docs (None).
TABLES['new_methods_c100_800e'] = dict(
    title='AdAutoMix / DecoupleMix / SUMix: CIFAR-100, ResNet-18 / ResNeXt-50, 800 epochs (top-1 %)',
    source='AdAutoMix: github.com/JinXins/Adversarial-AutoMixup README @9d6fd12 (CIFAR-100 table); SUMix: '
           'github.com/JinXins/SUMix README @0469ec2 (CIFAR-100 table); DecoupleMix: OpenMixup @37e1372 '
           'configs/classification/cifar100/mixups/decouple (no published value)',
    convention='median_last_k', k=10,
    rows=[('c100_r18_800e_adautomix', 'AdAutoMix, R-18', 82.32, True),
          ('c100_rx50_800e_adautomix', 'AdAutoMix, RX-50', 84.22, True),
          ('c100_r18_800e_cutmix_sumix', 'CutMix + SUMix, R-18', 79.78, True),
          ('c100_r18_800e_resizemix_sumix', 'ResizeMix + SUMix, R-18', 80.38, True),
          ('c100_r18_800e_mixup_decouple', 'Mixup + DecoupleMix, R-18', None, False),
          ('c100_r18_800e_cutmix_decouple', 'CutMix + DecoupleMix, R-18', None, False)])
TABLES['new_methods_in_100e'] = dict(
    title='AdAutoMix: ImageNet-1k, ResNet-18 / ResNet-50, 100 epochs (top-1 %)',
    source='github.com/JinXins/Adversarial-AutoMixup README @9d6fd12 (ImageNet-1k columns)',
    convention='median_last_k', k=5,
    rows=[('in_r18_100e_adautomix', 'AdAutoMix, R-18', 70.86, True),
          ('in_r50_100e_adautomix', 'AdAutoMix, R-50', 78.04, True)])
