# ResizeMix (Qin et al., CVMJ 2023 / arXiv 2012.11101), OpenMixup's resizemix with its CIFAR mix_args.
# OpenMixup benchmark row c100_r18_800e (alpha 1, published 80.01): its recipe (REFERENCE.md section 1).
# Reference behaviour: tau ~ Beta(1, 1) redrawn uniformly into the scope (use_alpha=True, OpenMixup's CIFAR configs)
# and a random-permutation partner. The paper's tau ~ U(0.1, 0.8) (use_alpha=False) is the default for new work;
# with alpha 1 both are the same distribution.
_base_ = ['./_base_/c100_r18_800e.py']
model = dict(mixer=dict(type='ResizeMix', alpha=1.0, scope=(0.1, 0.8), use_alpha=True, pairing='perm'))
