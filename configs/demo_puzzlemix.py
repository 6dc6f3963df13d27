# Demo comparison: PuzzleMix (Kim et al., ICML 2020) on the tiny DeiT of configs/demo.py, same data, recipe, seeds and
# epochs as configs/demo_cutmix.py (CutMix) and configs/demo_automix.py (AutoMix):
#   python tools/train.py configs/demo_puzzlemix.py
_base_ = ['./demo_cutmix.py']
model = dict(mixer=dict(_delete_=True, type='PuzzleMix', alpha=1.0))
