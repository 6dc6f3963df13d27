"""Tiny runners: EMAValLoop logs raw and EMA metrics; a resumed run equals the uninterrupted one bit for bit."""
import json
import uuid

import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from openmix.engine import EMAHook
from openmix.evaluation import topk_correct


class NoisyMixer(nn.Module):
    """Stands in for an openmix mixer: its own NumPy generator, state exposed via get/set_rng_state."""

    def __init__(self):
        super().__init__()
        self.enabled = True
        self.rng = np.random.default_rng(0)

    def get_rng_state(self):
        return self.rng.bit_generator.state

    def set_rng_state(self, state):
        self.rng.bit_generator.state = state

    def forward(self, x):
        return x + float(self.rng.normal()) * 0.1 if self.enabled else x


class ToyClassifier(BaseModel):
    def __init__(self):
        super().__init__()
        self.mixer = NoisyMixer()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 4))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            logits = self.net(self.mixer(inputs))
            return dict(loss=nn.functional.cross_entropy(logits, data_samples['gt_label']))
        logits = self.net(inputs)
        if mode == 'predict':
            return [dict(scores=logits.softmax(-1), gt_label=data_samples['gt_label'])]
        return logits


class Blobs(Dataset):
    def __init__(self, n):
        g = torch.Generator().manual_seed(n)
        self.labels = torch.randint(0, 4, (n,), generator=g)
        self.x = torch.randn(n, 8, generator=g) + 2.0 * nn.functional.one_hot(self.labels, 8).float()

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], data_samples=dict(gt_label=self.labels[i]))


def make_runner(work_dir, max_epochs, resume=False, momentum=0.8):
    def loader(n, shuffle):
        return dict(dataset=Blobs(n), batch_size=8, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=shuffle),
                    collate_fn=dict(type='default_collate'))

    return Runner(
        model=dict(type=ToyClassifier), work_dir=str(work_dir), experiment_name=f'emaval_{uuid.uuid4().hex[:8]}',
        train_dataloader=loader(40, True), val_dataloader=loader(21, False),
        val_evaluator=dict(type='Accuracy', topk=(1, 2)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1), val_cfg=dict(type='EMAValLoop'),
        optim_wrapper=dict(type='GuardedOptimWrapper', optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.05),
                           constructor='OpenmixOptimWrapperConstructor', clip_grad=dict(max_norm=5.0)),
        param_scheduler=[
            dict(type='LinearWarmupLR', start_lr=1e-6, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
            dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1, end=3, convert_to_iter_based=True)],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook', interval=1, save_best='accuracy/top1',
                                           rule='greater')),
        custom_hooks=[dict(type='RandomStateHook'), dict(type='EMAHook', momentum=momentum)],
        randomness=dict(seed=0), resume=resume, default_scope='openmix')


def accuracy_of(module, dataset):
    module.eval()
    with torch.no_grad():
        scores = module(dataset.x, mode='tensor')
    return topk_correct(scores, dataset.labels, (1, 2)).double().mean(0).mul(100).tolist()


def test_raw_and_ema_metrics_logged_and_returned(tmp_path):
    runner = make_runner(tmp_path, max_epochs=2)
    runner.train()
    rows = [json.loads(line) for line in sorted(tmp_path.glob('*/vis_data/scalars.json'))[-1].read_text().splitlines()]
    val_rows = [r for r in rows if 'accuracy/top1' in r]
    assert [r['step'] for r in val_rows] == [1, 2]
    assert all({'accuracy/top1', 'accuracy/top2', 'ema/accuracy/top1', 'ema/accuracy/top2'} <= set(r)
               for r in val_rows)
    assert list(tmp_path.glob('best_accuracy_top1_epoch_*.pth'))  # save_best on the merged metrics works

    raw_before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    metrics = runner.val_loop.run()
    assert all(torch.equal(v, runner.model.state_dict()[k]) for k, v in raw_before.items())  # nothing swapped
    ema = next(h for h in runner.hooks if isinstance(h, EMAHook)).ema_module
    dataset = runner.val_dataloader.dataset
    assert [metrics['accuracy/top1'], metrics['accuracy/top2']] == pytest.approx(accuracy_of(runner.model, dataset))
    assert [metrics['ema/accuracy/top1'], metrics['ema/accuracy/top2']] == pytest.approx(accuracy_of(ema, dataset))
    assert val_rows[-1]['ema/accuracy/top1'] == pytest.approx(metrics['ema/accuracy/top1'])
    # the EMA really differs from the raw weights (momentum 0.8 over 10 steps)
    assert not torch.allclose(ema.net[0].weight, runner.model.net[0].weight)

    ckpt = torch.load(tmp_path / 'epoch_2.pth', map_location='cpu', weights_only=True)
    assert torch.equal(ckpt['state_dict']['net.0.weight'], runner.model.net[0].weight)
    assert torch.equal(ckpt['ema_state_dict']['net.0.weight'], ema.net[0].weight)


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    make_runner(straight, max_epochs=2).train()
    make_runner(resumed, max_epochs=1).train()
    runner = make_runner(resumed, max_epochs=2, resume=True)
    runner.train()
    a = torch.load(straight / 'epoch_2.pth', map_location='cpu', weights_only=True)
    b = torch.load(resumed / 'epoch_2.pth', map_location='cpu', weights_only=True)
    for key in ('state_dict', 'ema_state_dict'):
        assert set(a[key]) == set(b[key])
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), (key, name)
    state_a, state_b = a['random_state']['ranks'][0], b['random_state']['ranks'][0]
    assert torch.equal(state_a['torch'], state_b['torch'])
    assert state_a['modules']['mixer'] == state_b['modules']['mixer']
    assert a['optimizer']['param_groups'][0]['lr'] == b['optimizer']['param_groups'][0]['lr']
