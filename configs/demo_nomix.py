# Demo comparison, no mixing: configs/demo.py without Mixup/CutMix (label smoothing, RandAugment, random erasing,
# EMA and the schedule kept); same data, model, seeds and epochs as configs/demo_cutmix.py.
_base_ = ['./demo.py']
model = dict(mixer=None, label_assigner=None)
