# TokenMix (Liu et al., ECCV 2022), ImageNet-1k DeiT-S, 300 epochs: the official exp/deit_small/run.sh recipe on the
# DeiT baseline (drop path 0.1, random erasing 0.25, batch 8 x 128, BCE loss `--use-bce`), the CutMix branch of the
# Mixup 0.8 / CutMix 1.0 switch replaced by block token masks (lam 0.5 + 14 tokens of 196), teacher-activation
# targets. Published top-1: 80.8 (official README; OpenMixup's ImageNet table reprints it).
# Teacher: the official code reads NFNet-F6 label maps precomputed on the whole image (Token Labeling's files);
# ours runs a teacher online on the training crop: put its local weights at the path below (nothing is downloaded).
# ResNet-50 here (the paper: the teacher "does not need to have high performance"); `model_name='dm_nfnet_f6'` is
# the paper's network, at a large cost per step.
_base_ = ['../deit_s_baseline.py']
model = dict(
    mixer=dict(_delete_=True, type='RandomMix',
               mixers=[dict(type='Mixup', alpha=0.8),
                       dict(type='TokenMix', lam=0.5, minimum_tokens=14, mask_type='block', grid_size=14)],
               switch_prob=0.5, prob=1.0, mode='batch'),
    label_assigner=dict(type='TokenMixLabel', topk=5, normalize=False,
                        teacher=dict(model_name='resnet50', num_classes=1000,
                                     checkpoint='data/pretrained/resnet50.pth')),
    loss=dict(_delete_=True, type='BinaryCrossEntropy'),
)
