"""Every config builds, passes the type check, and its model runs one forward/backward step on a tiny batch."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from openmix.apis import check_config_types
from openmix.registry import MODELS

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (ROOT / 'configs').rglob('*.py') if '_base_' not in p.parts)
MODEL_BASES = sorted((ROOT / 'configs' / '_base_' / 'models').glob('*.py'))


def input_size(model_cfg) -> int:
    backbone = model_cfg.backbone
    if backbone.get('img_size'):
        return int(backbone.img_size)
    return 32 if backbone.get('cifar_stem') else 224


def one_step(model_cfg, batch=2) -> float:
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    size = input_size(model_cfg)
    k = model_cfg.head.num_classes
    data = dict(inputs=torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8),
                data_samples=dict(gt_label=torch.arange(batch) % k))
    if hasattr(model, 'aux_head'):  # token labeling: teacher label maps and crops come with the batch
        data['data_samples'].update(label_values=torch.randn(batch, 3, 4, 4),
                                    label_indices=torch.randint(0, k, (batch, 3, 4, 4)),
                                    crop=torch.tensor([[0.0, 0.0, 1.0, 1.0]] * batch))
    data = model.data_preprocessor(data, True)
    losses = model(**data, mode='loss')
    loss = sum(v for name, v in losses.items() if 'loss' in name)  # mmengine's parse_losses
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads), 'every trainable parameter gets a gradient'
    assert torch.isfinite(loss)
    # a step lowers nothing in particular, but the loss of an untrained model is close to log(K) per CE term
    if hasattr(model.criterion, 'dense_weight'):
        terms = model.criterion.cls_weight + model.criterion.dense_weight
    else:
        terms = sum(1 for name in losses if 'loss' in name and name != 'loss_mask')
        terms += getattr(model.label_assigner, 'aux_terms', 0)  # SMMix's fine-grained term inside `loss`
    per_term = 0.6931 if type(model.criterion).__name__ == 'BinaryCrossEntropy' else float(torch.log(torch.tensor(k)))
    assert abs(loss.item() - terms * per_term) < 2.5 * terms
    return loss.item()


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: str(p.relative_to(ROOT / 'configs')))
def test_config_builds_and_steps(path, tmp_path):
    cfg = Config.fromfile(path)
    check_config_types(cfg)
    assert cfg.default_scope == 'openmix'
    mixer = cfg.model.get('mixer') or {}
    if mixer.get('type') == 'AttentiveMix':  # the frozen pretrained CNN: a local file (no download), here random
        import timm
        mixer.checkpoint = str(tmp_path / 'attentive.pth')
        torch.save(timm.create_model(mixer.model_name).state_dict(), mixer.checkpoint)
    teacher = (cfg.model.get('label_assigner') or {}).get('teacher')
    if teacher and teacher.get('model_name'):  # TokenMix's frozen teacher: a local file, here random weights
        import timm
        kwargs = {k: v for k, v in teacher.items() if k not in ('model_name', 'checkpoint')}
        teacher.checkpoint = str(tmp_path / 'teacher.pth')
        torch.save(timm.create_model(teacher.model_name, **kwargs).state_dict(), teacher.checkpoint)
    one_step(cfg.model)


@pytest.mark.parametrize('path', MODEL_BASES, ids=lambda p: p.name)
def test_model_base_builds_and_steps(path):
    one_step(Config.fromfile(path).model)


# Configs that reproduce a published row run the reference code's behaviour (issue 10): pattern -> {key: value}
REFERENCE_ROWS = {
    'mixups/*_attentivemix.py': {'model.mixer.legacy_train_bn': True, 'model.mixer.legacy_shared_lam': True},
    'mixups/*_fmix.py': {'model.mixer.legacy_spectrum': True, 'model.mixer.redraw_self_pairs': True},
    'mixups/*_gridmix.py': {'model.mixer.legacy_grid': True},
    'mixups/*_saliencymix.py': {'model.mixer.detector': 'fine_grained', 'model.mixer.per_sample': False},
    'mixups/*_smoothmix.py': {'model.mixer.legacy_lam': True},
    'mixups/*_resizemix.py': {'model.mixer.use_alpha': True},
    'lvvit_s_token_labeling.py': {'model.legacy_box_order': True, 'model.legacy_smoothing': True,
                                  'model.backbone.block_fn.skip_lam': 2.0, 'model.backbone.norm_layer.eps': 1e-5},
    'token_labeling/*_token_labeling.py': {'model.legacy_box_order': True, 'model.legacy_smoothing': True},
    'token_labeling/lvvit_t_token_labeling.py': {'model.backbone.block_fn.skip_lam': 1.0,
                                                 'model.backbone.norm_layer.eps': 1e-5},
    'token_labeling/lvvit_m_token_labeling.py': {'model.backbone.block_fn.skip_lam': 2.0},
    'tokenmix/*_tokenmix.py': {'model.label_assigner.normalize': False},
    'smmix/*_smmix.py': {'model.label_assigner.keep_in_graph': False},
    'mixups/*_sumix.py': {'model.label_assigner.legacy_batch_mean': True},
    'mixpro/*_mixpro.py': {'model.label_assigner.smoothing': False, 'model.backbone.patch_size': 14},
}


@pytest.mark.parametrize('pattern', list(REFERENCE_ROWS))
def test_reproduction_rows_run_the_reference_behaviour(pattern):
    paths = sorted((ROOT / 'configs').glob(pattern))
    assert paths, f'no config matches {pattern}'
    for path in paths:
        cfg = Config.fromfile(path)
        for key, expected in REFERENCE_ROWS[pattern].items():
            value = cfg
            for part in key.split('.'):
                value = value[part]
            assert value == expected, f'{path.name}: {key} = {value!r}, the reference needs {expected!r}'


def test_every_table_row_has_its_config():
    import sys
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    from reference import TABLES
    stems = {p.stem for p in CONFIGS}
    missing = [row[0] for table in TABLES.values() for row in table['rows'] if row[0] not in stems]
    assert not [m for m in missing if m.startswith(('c100_', 'tiny_', 'in_'))], missing
