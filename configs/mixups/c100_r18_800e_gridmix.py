# GridMix (Baek et al., Pattern Recognition 2021), OpenMixup's gridmix with its CIFAR mix_args.
# OpenMixup benchmark row c100_r18_800e (alpha 0.2): its recipe and alpha (REFERENCE.md section 1).
# Reference behaviour: crops larger than the image wrap through negative indices (45 % of draws at 32 px).
# The corrected default, crops clipped to the image, is legacy_grid=False.
_base_ = ['./_base_/c100_r18_800e.py']
model = dict(mixer=dict(type='GridMix', alpha=0.2, n_holes=(2, 6), hole_aspect_ratio=1.0, cut_area_ratio=(0.5, 1.0),
                         cut_aspect_ratio=(0.5, 2.0), pairing='perm', legacy_grid=True))
