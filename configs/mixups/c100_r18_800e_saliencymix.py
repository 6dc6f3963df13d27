# SaliencyMix (Uddin et al., ICLR 2021), the reference behaviour: OpenCV's fine-grained detector on the normalised
# batch and one box (from sample 0's partner) for the whole batch, as the official saliency_bbox / OpenMixup.
# OpenMixup benchmark row c100_r18_800e: its recipe and alpha (REFERENCE.md section 1).
# Corrected settings for new work: per_sample=True (each sample gets its own partner's box).
_base_ = ['./_base_/c100_r18_800e.py']
model = dict(mixer=dict(type='SaliencyMix', alpha=0.2, detector='fine_grained', per_sample=False, pairing='perm'))
