# SAMix (Li et al., "Boosting Discriminative Visual Representation Learning with Scenario-Agnostic
# Mixup"): AutoMix's pipeline with the SAMix MixBlock.
# OpenMixup benchmark row in_deit_s_300e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./in_deit_s_300e_automix.py']
model = dict(mix_block=dict(_delete_=True, type='SAMixBlock', lam_mul_k=-1,
                            upsample_mode='nearest'))  # OpenMixup's ViT SAMix configs: nearest
