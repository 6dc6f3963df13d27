"""Side-stream prefetch (``train_dataloader.prefetch``): the CPU pass-through, the one-ahead copy generator, the
DataLoader's semantics through the wrapper, and PreemptibleTrainLoop's mid-epoch start through it."""
import pytest
import torch
from mmengine.dataset import DefaultSampler
from torch.utils.data import DataLoader

from openmix.datasets.prefetch import PrefetchHook, PrefetchLoader, install_prefetch, to_device
from openmix.datasets.synthetic import SyntheticImages
from openmix.engine.loops import PreemptibleTrainLoop


def _loader(n: int = 20, batch: int = 4, seed: int = 0) -> DataLoader:
    dataset = SyntheticImages(num_samples=n, img_size=8, num_classes=7)
    return DataLoader(dataset, batch_size=batch, sampler=DefaultSampler(dataset, shuffle=True, seed=seed))


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(torch.equal(x['inputs'], y['inputs']) and
                                    torch.equal(x['data_samples']['gt_label'], y['data_samples']['gt_label'])
                                    for x, y in zip(a, b))


def test_cpu_is_a_pass_through_that_keeps_the_loader_semantics():
    inner = _loader()
    loader = PrefetchLoader(inner, 'cpu')
    assert not loader.uses_stream and 'pass-through' in repr(loader)
    assert len(loader) == len(inner) == 5 and loader.batch_size == 4 and loader.dataset is inner.dataset
    assert loader.sampler is inner.sampler and loader.batch_sampler is inner.batch_sampler
    loader.sampler.set_epoch(3)  # DistSamplerSeedHook's call, through the wrapper
    assert inner.sampler.epoch == 3
    replay = torch.Generator()
    loader.generator = replay  # PreemptibleTrainLoop replaces the DataLoader's generator for a replayed epoch
    assert inner.generator is replay and loader.generator is replay
    assert not hasattr(loader, 'iter_from')  # a DataLoader cannot start inside an epoch itself
    assert _same(list(loader), list(inner))


def test_iter_from_is_forwarded_only_where_the_inner_loader_has_it():
    class Starts:
        def __init__(self):
            self.batches = [dict(inputs=torch.full((1,), i), data_samples=dict(gt_label=torch.tensor([i])))
                            for i in range(5)]

        def __iter__(self):
            return iter(self.batches)

        def __len__(self):
            return 5

        def iter_from(self, start):
            return iter(self.batches[start:])

    loader = PrefetchLoader(Starts(), 'cpu')
    assert [int(b['inputs']) for b in loader.iter_from(2)] == [2, 3, 4]


def test_prefetch_generator_copies_one_batch_ahead_in_order():
    """The stream path's generator (run here with the current stream): every batch once, in order, each copied before
    the previous one is handed out; tensors already on the device and non-tensors pass untouched."""
    produced = []

    def source():
        for i in range(4):
            produced.append(i)
            yield dict(inputs=torch.full((2, 3), i, dtype=torch.uint8), data_samples=dict(gt_label=torch.tensor([i]),
                                                                                          name=f'b{i}'))

    loader = PrefetchLoader([], 'meta')  # a real copy device that exists without an accelerator
    seen = []
    for batch in loader._prefetch(source(), stream=None):
        assert batch['inputs'].device.type == 'meta' and batch['data_samples']['gt_label'].device.type == 'meta'
        seen.append(batch['data_samples']['name'])
        assert len(produced) == min(len(seen) + 1, 4)  # the next batch was already taken (and copied)
    assert seen == ['b0', 'b1', 'b2', 'b3']


def test_to_device_records_only_the_copies():
    on_device = torch.zeros(2, device='meta')
    copies = []
    out = to_device(dict(a=torch.ones(2), b=[on_device, 'x'], c=(torch.zeros(1), None)), torch.device('meta'), copies)
    assert out['b'][0] is on_device and out['b'][1] == 'x' and out['c'][1] is None
    assert len(copies) == 2 and all(t.device.type == 'meta' for t in copies)


def test_inner_iterator_is_created_by_iter_not_at_the_first_batch():
    """PreemptibleTrainLoop sets the generator/sampler around ``iter(loader)`` and restores them right after."""
    calls = []

    class Counting(list):
        def __iter__(self):
            calls.append('iter')
            return super().__iter__()

    loader = PrefetchLoader(Counting([1, 2]), 'cpu')
    it = iter(loader)
    assert calls == ['iter']
    assert list(it) == [1, 2]


@pytest.mark.parametrize('start', [1, 3])
def test_preemptible_loop_mid_epoch_start_through_the_wrapper(start):
    """The resumed epoch from step ``start`` yields what the uninterrupted epoch yields there."""
    full = list(PrefetchLoader(_loader(), 'cpu'))
    loop = PreemptibleTrainLoop.__new__(PreemptibleTrainLoop)  # only the iterator logic is exercised
    loop.dataloader = PrefetchLoader(_loader(), 'cpu')
    iterator, restore = loop._epoch_iterator(start, None)
    rest = list(iterator)
    restore()
    assert _same(rest, full[start:])
    assert _same(list(loop.dataloader), full)  # the sampler is whole again for the next epoch


class _Runner:
    def __init__(self, loader_cfg, device='cpu'):
        self._train_dataloader = loader_cfg
        self.model = torch.nn.Linear(1, 1).to(device)
        self.hooks = []

    def register_hook(self, hook):
        self.hooks.append(hook)


def test_install_reads_and_removes_the_key():
    base = dict(batch_size=4, dataset=dict(type='SyntheticImages'))
    runner = _Runner(dict(base))
    assert not install_prefetch(runner) and not runner.hooks  # auto: off on the CPU
    runner = _Runner(dict(base, prefetch=False))
    assert not install_prefetch(runner) and 'prefetch' not in runner._train_dataloader
    runner = _Runner(dict(base, prefetch=True))
    assert install_prefetch(runner) and isinstance(runner.hooks[0], PrefetchHook)
    assert runner._train_dataloader == base  # the DataLoader never sees the key; no pinning on the CPU
    runner = _Runner(dict(base, prefetch=True, device_resident=True))
    assert not install_prefetch(runner) and not runner.hooks  # device tensors already: nothing to copy
    with pytest.raises(TypeError, match='prefetch must be True, False or None'):
        install_prefetch(_Runner(dict(base, prefetch='yes')))


def test_train_cli_with_prefetch_trains_and_matches_the_run_without(tmp_path):
    """tools/train.py's runner with ``prefetch=True`` on the CPU: the hook wraps the loader, the run is the same."""
    from argparse import Namespace
    from pathlib import Path

    from openmix.apis import build_runner, load_config
    root = Path(__file__).resolve().parents[2]
    finals = []
    for prefetch in (False, True):
        ds = dict(_delete_=True, type='SyntheticImages', num_samples=24, img_size=32, num_classes=10)
        opts = [f'train_dataloader.dataset={ds!r}', 'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
                'train_dataloader.persistent_workers=False', f'train_dataloader.prefetch={prefetch}',
                'model.backbone.img_size=32', 'model.backbone.patch_size=8', 'model.backbone.depth=1',
                'model.backbone.embed_dim=32', 'model.backbone.num_heads=2', 'model.head.num_classes=10',
                'train_cfg.max_epochs=1', 'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None',
                'test_dataloader=None', 'test_cfg=None', 'test_evaluator=None', 'default_hooks.checkpoint=None',
                "visualizer.vis_backends=[{'type': 'LocalVisBackend'}]", 'custom_hooks=[]']
        cfg = load_config(Namespace(config=str(root / 'configs' / 'deit_s_baseline.py'), cfg_options=opts,
                                    work_dir=str(tmp_path / str(prefetch))))
        runner = build_runner(cfg)
        runner.train()
        assert isinstance(runner.train_loop.dataloader, PrefetchLoader) is prefetch
        finals.append({k: v.clone() for k, v in runner.model.state_dict().items()})
    for k, v in finals[0].items():
        assert torch.equal(v, finals[1][k]), k


def test_stream_path_waits_and_records_before_handing_out_each_batch(monkeypatch):
    """The CUDA path's protocol with the stream API faked (no GPU here): each batch is copied inside the side stream,
    and before it is handed out the current stream waits for the side stream and every copy is recorded on it."""
    import contextlib
    events = []

    class FakeStream:
        def __init__(self, name):
            self.name = name

        def wait_stream(self, other):
            events.append(f'{self.name} waits {other.name}')

    side, main = FakeStream('side'), FakeStream('main')

    @contextlib.contextmanager
    def on(stream):
        events.append(f'copy on {stream.name}')
        yield

    monkeypatch.setattr(torch.cuda, 'Stream', lambda device=None: side)
    monkeypatch.setattr(torch.cuda, 'current_stream', lambda device=None: main)
    monkeypatch.setattr(torch.cuda, 'stream', on)
    monkeypatch.setattr(torch.Tensor, 'record_stream', lambda t, s: events.append(f'record on {s.name}'))
    monkeypatch.setattr(PrefetchLoader, 'uses_stream', property(lambda self: True))
    batches = [dict(inputs=torch.full((2,), i), data_samples=dict(gt_label=torch.tensor([i]), name=i))
               for i in range(3)]
    for batch in PrefetchLoader(batches, 'meta'):
        assert batch['inputs'].device.type == 'meta'
        events.append(f"step {batch['data_samples']['name']}")
    ready = ['main waits side', 'record on main', 'record on main']  # two tensors per batch
    assert events == ['copy on side', *ready, 'copy on side', 'step 0', *ready, 'copy on side', 'step 1', *ready,
                      'step 2']
