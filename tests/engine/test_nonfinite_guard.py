"""GuardedOptimWrapper / GuardedAmpOptimWrapper: a step with a non-finite loss or non-finite gradients is never applied
(parameters, AdamW moments and step count unchanged), decided on the device; counters read at check time only."""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from openmix.engine import GuardedAmpOptimWrapper, GuardedOptimWrapper
from openmix.registry import OPTIM_WRAPPERS


def toy(nonfinite='stop', opt='AdamW', fused=True, wrapper='GuardedOptimWrapper', **kwargs):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt_kwargs = dict(lr=0.1, fused=fused) | (dict(momentum=0.9) if opt == 'SGD' else dict(weight_decay=0.05))
    optimizer = getattr(torch.optim, opt)(model.parameters(), **opt_kwargs)
    kwargs = {k: dict(v) if isinstance(v, dict) else v for k, v in kwargs.items()}  # mmengine pops clip_grad['type']
    ow = OPTIM_WRAPPERS.build(dict(type=wrapper, optimizer=optimizer, nonfinite=nonfinite, **kwargs))
    return model, ow


def loss_of(model, poison=None):
    loss = model(torch.ones(4, 3)).pow(2).mean()
    return loss * poison if poison is not None else loss


def nan_grad_loss(model):
    """A finite loss whose weight gradient is NaN (what lr=1e6 produced on the demo)."""
    loss = loss_of(model)
    handle = model.weight.register_hook(lambda g: g * float('nan'))
    return loss, handle


def snapshot(model, ow):
    params = [p.detach().clone() for p in model.parameters()]
    state = [{k: v.clone() if torch.is_tensor(v) else v for k, v in ow.optimizer.state[p].items()}
             for p in model.parameters()]
    return params, state


def unchanged(model, ow, snap):
    params, state = snapshot(model, ow)
    same_state = all(a.keys() == b.keys() and all(torch.equal(torch.as_tensor(a[k]), torch.as_tensor(b[k])) for k in a)
                     for a, b in zip(state, snap[1]))
    return all(torch.equal(a, b) for a, b in zip(params, snap[0])) and same_state


@pytest.mark.parametrize('fused', [True, False])
def test_finite_steps_are_those_of_the_plain_optimizer(fused):
    model, ow = toy(fused=fused, clip_grad=dict(max_norm=1e9))
    ref_model, _ = toy(fused=fused)
    ref_opt = torch.optim.AdamW(ref_model.parameters(), lr=0.1, weight_decay=0.05, fused=fused)
    for _ in range(3):
        ow.update_params(loss_of(model))
        loss_of(ref_model).backward()
        ref_opt.step()
        ref_opt.zero_grad()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), ref_model.parameters()))
    assert ow.read_counters()['skipped'] == 0 and ow.read_counters()['steps'] == 3


@pytest.mark.parametrize('mode', ['stop', 'skip'])
@pytest.mark.parametrize('opt,fused', [('AdamW', True), ('AdamW', False), ('SGD', True), ('SGD', False)])
@pytest.mark.parametrize('clip', [None, dict(max_norm=1.0), dict(type='value', clip_value=0.1)])
def test_finite_loss_with_nan_grads_is_never_applied(mode, opt, fused, clip):
    model, ow = toy(mode, opt, fused, clip_grad=clip)
    ow.update_params(loss_of(model))  # one normal step: moments / momentum and step count are non-zero
    snap = snapshot(model, ow)
    loss, handle = nan_grad_loss(model)
    ow.update_params(loss)
    handle.remove()
    assert unchanged(model, ow, snap), 'parameters or optimizer state moved on a skipped step'
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    c = ow.read_counters()
    assert (c['skipped'], c['consecutive'], c['first_bad_iter'], c['steps']) == (1, 1, 2, 2)
    assert c['first_loss'] == pytest.approx(float(loss.detach())) and c['first_grad_norm'] != c['first_grad_norm']  # NaN
    assert not bool(ow.last_step_applied)
    ow.update_params(loss_of(model))  # training goes on; the consecutive count resets
    assert not unchanged(model, ow, snap) and ow.read_counters()['consecutive'] == 0


@pytest.mark.parametrize('poison', [float('nan'), float('inf'), float('-inf')])
def test_nonfinite_loss_is_never_applied_and_adamw_state_does_not_move(poison):
    model, ow = toy('skip')
    ow.update_params(loss_of(model))
    snap = snapshot(model, ow)
    ow.update_params(loss_of(model, poison))
    assert unchanged(model, ow, snap)
    assert ow.optimizer.state[model.weight]['step'] == 1
    c = ow.read_counters()
    assert c['skipped'] == 1 and c['first_bad_iter'] == 2 and c['first_loss'] != c['first_loss'] or \
        abs(c['first_loss']) == float('inf')


def test_inf_gradient_is_not_hidden_by_value_clipping():
    model, ow = toy('skip', clip_grad=dict(type='value', clip_value=0.1))
    ow.update_params(loss_of(model))
    snap = snapshot(model, ow)
    loss = loss_of(model)
    handle = model.bias.register_hook(lambda g: g * float('inf'))
    ow.update_params(loss)
    handle.remove()
    assert unchanged(model, ow, snap) and ow.read_counters()['skipped'] == 1


def test_fused_sgd_skipped_first_step_leaves_no_uninitialised_momentum():
    model, ow = toy('skip', 'SGD', True)
    ref, ref_ow = toy('skip', 'SGD', True)
    ow.update_params(loss_of(model, float('nan')))  # the very first step is bad
    assert not ow.optimizer.state  # no momentum buffer was created
    ow.update_params(loss_of(model))
    ref_ow.update_params(loss_of(ref))
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), ref.parameters()))


def test_accumulation_window_with_a_bad_loss_is_dropped():
    model, ow = toy('skip', accumulative_counts=2)
    ow.initialize_count_status(model, 0, 6)
    ow.update_params(loss_of(model))
    ow.update_params(loss_of(model))  # iter 2: a clean window steps
    snap = snapshot(model, ow)
    ow.update_params(loss_of(model, float('nan')))  # iter 3: accumulate a bad loss
    ow.update_params(loss_of(model))  # iter 4: the window's step is skipped
    assert unchanged(model, ow, snap) and ow.read_counters()['first_bad_iter'] == 4
    ow.update_params(loss_of(model))
    ow.update_params(loss_of(model))  # iter 6: a clean window steps
    assert not unchanged(model, ow, snap) and ow.read_counters()['skipped'] == 1


class HostReads(TorchDispatchMode):
    """Counts reads of a tensor's value on the host (``.item()``, ``bool(t)``, ``float(t)`` all dispatch here)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket in (torch.ops.aten._local_scalar_dense, torch.ops.aten.is_nonzero, torch.ops.aten.item):
            self.count += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize('opt', ['AdamW', 'SGD'])
def test_fused_guard_reads_nothing_on_the_host_per_step(opt):
    model, ow = toy('skip', opt, True, clip_grad=dict(max_norm=1.0))
    ow.update_params(loss_of(model))  # fused SGD's first step is checked on the host (see the next test)
    with HostReads() as reads:
        for i in range(4):
            ow.update_params(loss_of(model, float('nan') if i == 2 else None))
    assert reads.count == 0
    c = ow.read_counters()  # the one host read, made by NonFiniteCheckHook at log intervals
    assert c['skipped'] == 1 and c['first_bad_iter'] == 4 and c['steps'] == 5


def test_unfused_guard_reads_the_flag_once_per_step():
    """One host read per step on top of what the unfused optimizer itself reads (its step counts, torch-version
    dependent), counted against mmengine's plain OptimWrapper on the same model."""
    counts = []
    for wrapper in ('GuardedOptimWrapper', 'OptimWrapper'):
        model, ow = toy('skip', 'AdamW', False, wrapper=wrapper) if wrapper != 'OptimWrapper' else _plain('AdamW')
        with HostReads() as reads:
            for _ in range(3):
                ow.update_params(loss_of(model))
        counts.append(reads.count)
    assert counts[0] - counts[1] == 3


def _plain(opt):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = getattr(torch.optim, opt)(model.parameters(), lr=0.1, fused=False, weight_decay=0.05)
    return model, OPTIM_WRAPPERS.build(dict(type='OptimWrapper', optimizer=optimizer))


def test_rejects_unknown_mode():
    with pytest.raises(ValueError, match="optim_wrapper.nonfinite must be 'stop' or 'skip'"):
        toy('ignore')


def test_amp_variant_without_an_active_scaler_guards_like_the_plain_one(monkeypatch):
    # AmpOptimWrapper refuses to build without an accelerator; on CPU its GradScaler is disabled
    monkeypatch.setattr('mmengine.optim.optimizer.amp_optimizer_wrapper.is_cuda_available', lambda: True)
    model, ow = toy('stop', wrapper='GuardedAmpOptimWrapper', dtype='bfloat16')
    assert isinstance(ow, GuardedAmpOptimWrapper) and ow.cast_dtype == torch.bfloat16
    ow.update_params(loss_of(model))
    snap = snapshot(model, ow)
    loss, handle = nan_grad_loss(model)
    ow.update_params(loss)
    handle.remove()
    assert unchanged(model, ow, snap) and ow.read_counters()['skipped'] == 1
    assert isinstance(OPTIM_WRAPPERS.build(dict(type='GuardedOptimWrapper', optimizer=torch.optim.SGD(
        model.parameters(), lr=0.1))), GuardedOptimWrapper)


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import datetime
    import json

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    torch.manual_seed(0)
    model = DistributedDataParallel(torch.nn.Linear(3, 2))
    ow = GuardedOptimWrapper(optimizer=torch.optim.AdamW(model.parameters(), lr=0.1, fused=True), nonfinite='skip')
    before = [p.detach().clone() for p in model.parameters()]
    loss = model(torch.ones(4, 3)).pow(2).mean()
    if rank == 1:  # only one rank sees the non-finite loss
        loss = loss * float('nan')
    ow.update_params(loss)
    result = dict(unchanged=all(torch.equal(a, b) for a, b in zip(before, model.parameters())),
                  skipped=ow.read_counters()['skipped'])
    ow.update_params(model(torch.ones(4, 3)).pow(2).mean())  # the ranks still agree on the next step
    result['after'] = [p.detach().flatten().tolist() for p in model.parameters()]
    with open(f'{out_dir}/rank{rank}.json', 'w') as f:
        json.dump(result, f)
    dist.destroy_process_group()


def test_ddp_ranks_skip_the_same_step_without_an_extra_collective(tmp_path):
    import json

    import torch.multiprocessing as mp
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / 'init'), str(tmp_path)), nprocs=2, join=True)
    results = [json.loads((tmp_path / f'rank{r}.json').read_text()) for r in range(2)]
    for rank, res in enumerate(results):
        assert res['unchanged'] and res['skipped'] == 1, (rank, res)
    assert results[0]['after'] == results[1]['after']
