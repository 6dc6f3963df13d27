# SMMix (Chen et al., ICCV 2023), ImageNet-1k DeiT-S, 300 epochs: the official script/train.sh recipe (DeiT's
# defaults, 4 x 256 images) with Mixup 0.8 switched (p 0.5) with max-min attention region mixing (square sides
# 3..10 of 14 tokens), fine-grained token labels and the feature-consistency loss; no CutMix.
# Published top-1: 81.1 (official README).
_base_ = ['../deit_s_baseline.py']
model = dict(
    mixer=dict(_delete_=True, type='SMMix', alpha=0.8, switch_prob=0.5, min_side_ratio=0.25, max_side_ratio=0.75),
    label_assigner=dict(type='SMMixLabel', num_classes=1000, fine_weight=1.0, consistency_weight=1.0,
                        keep_in_graph=False),  # the official token head gets no gradient on Mixup batches
)
