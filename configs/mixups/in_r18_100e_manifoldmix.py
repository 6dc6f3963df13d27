# ManifoldMix (Verma et al., ICML 2019): hidden states of a random stage in {input, layer1, layer2}.
# OpenMixup benchmark row in_r18_100e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./_base_/in_r18_100e.py']
model = dict(mixer=dict(type='ManifoldMix', alpha=0.2))
