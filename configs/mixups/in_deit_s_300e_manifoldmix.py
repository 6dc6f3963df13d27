# ManifoldMix (Verma et al., ICML 2019): hidden states of a random stage in {input, layer1, layer2}.
# OpenMixup benchmark row in_deit_s_300e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/in_deit_s_300e.py']
model = dict(mixer=dict(_delete_=True, type='ManifoldMix', alpha=0.2))
