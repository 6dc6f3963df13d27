# Demo comparison, SMMix (Chen et al., ICCV 2023): max-min attention region mixing guided by the model's own
# attention (square sides 2..6 of the 8 x 8 token grid), switched with Mixup (alpha 0.8) every other batch as the
# official recipe, with its fine-grained token labels and feature-consistency loss. Same seeds and epochs as
# configs/demo_cutmix.py.
_base_ = ['./demo_cutmix.py']
model = dict(mixer=dict(_delete_=True, type='SMMix', alpha=0.8, switch_prob=0.5, min_side_ratio=0.25,
                        max_side_ratio=0.75),
             label_assigner=dict(_delete_=True, type='SMMixLabel', num_classes=10))
