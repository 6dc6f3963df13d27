# FMix (Harris et al., arXiv 2002.12047), OpenMixup's copy of the official fmix.py.
# OpenMixup benchmark row c100_r18_800e (FMix*, alpha 0.2, published 79.69): its recipe and alpha
# (REFERENCE.md section 1).
# Reference behaviour: the official spectrum indexing (masks vary with horizontal frequencies 0 and 1 only) and
# OpenMixup's redraw of self-pairing permutations. The corrected default, the paper's full 2-D spectrum, is
# legacy_spectrum=False (redraw_self_pairs=False is the plain permutation of the other rows).
_base_ = ['./_base_/c100_r18_800e.py']
model = dict(mixer=dict(type='FMix', alpha=0.2, decay_power=3.0, pairing='perm',
                         legacy_spectrum=True, redraw_self_pairs=True))
