# SmoothMix (Lee et al., CVPRW 2020), OpenMixup's smoothmix.
# OpenMixup benchmark row c100_r18_800e (published 78.69; OpenMixup's alpha 0.2 is unused: the blob's sigma is
# uniform in [0.25, 0.5] H).
# Reference behaviour: OpenMixup's label weight, the blob's share given to the unshuffled sample (legacy_lam=True),
# and a random-permutation partner. The corrected default for new work is legacy_lam=False (each image weighted by
# its own share of the pixels).
_base_ = ['./_base_/c100_r18_800e.py']
model = dict(mixer=dict(type='SmoothMix', legacy_lam=True, pairing='perm'))
