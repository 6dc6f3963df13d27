# TransMix Table 1 row CA-Swin-T: TransMix labels read from the class-attention head's last block.
# Published top-1: 81.8 (OpenMixup's Swin-T TransMix row; the paper's CA-Swin-T value is [UNVERIFIED]).
_base_ = ['./ca_swin_t_baseline.py']
model = dict(label_assigner=dict(type='TransMixLabel', attn_weight=0.5))
