# ManifoldMix (Verma et al., ICML 2019): hidden states of a random stage in {input, layer1, layer2}.
# OpenMixup benchmark row c100_r18_200e: its recipe and alpha (REFERENCE.md section 1).
_base_ = ['./c100_r18_800e_manifoldmix.py']
train_cfg = dict(max_epochs=200)
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=0, end=200,
                        convert_to_iter_based=True)]
