# ManifoldMix (Verma et al., ICML 2019): hidden states of a random stage in {input, layer1, layer2}.
# OpenMixup benchmark row c100_rx50_800e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/c100_rx50_800e.py']
model = dict(mixer=dict(type='ManifoldMix', alpha=2.0))
