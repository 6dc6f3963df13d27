# Demo comparison, baseline: CutMix only (alpha 1, every batch) with area labels; otherwise configs/demo.py.
_base_ = ['./demo.py']
model = dict(mixer=dict(_delete_=True, type='CutMix', alpha=1.0),
             label_assigner=dict(_delete_=True, type='AreaLabel'))
