# The dense annotator for configs/demo_token_labeling.py: configs/demo.py's model and recipe, with the classifier on
# the MEAN of the patch tokens (no class token; the final LayerNorm per token before pooling), so the logits of each
# token average exactly to the image logits, as a CNN's classifier applied as a 1x1 convolution (the paper's
# NFNet-F6 annotator). A class-token ViT is a poor annotator: its patch tokens are never trained to classify (the
# earlier 30-epoch configs/demo.py model's mean token logits picked the right class for 13.6 % of the train images,
# its class token for ~38 % of val). Mixup/CutMix keep area labels (TransMix needs a class token).
#   python tools/train.py configs/demo_token_labeling_teacher.py
#   python tools/gen_token_labels.py configs/demo_token_labeling.py --teacher configs/demo_token_labeling_teacher.py \
#       --checkpoint work_dirs/demo_token_labeling_teacher/epoch_50.pth --ema --img-size 64 --out data/demo_token_labels
_base_ = ['./demo.py']
model = dict(backbone=dict(class_token=False, global_pool='avg', fc_norm=False), label_assigner=None)
