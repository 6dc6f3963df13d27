"""GuardedOptimWrapper / GuardedAmpOptimWrapper: a NaN/Inf loss stops the run or skips the step; params unchanged."""
import logging

import pytest
import torch
from mmengine.logging import MessageHub

from openmix.engine import GuardedAmpOptimWrapper, GuardedOptimWrapper
from openmix.registry import OPTIM_WRAPPERS


def toy(nonfinite, wrapper='GuardedOptimWrapper', **kwargs):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ow = OPTIM_WRAPPERS.build(dict(type=wrapper, optimizer=optimizer, nonfinite=nonfinite, **kwargs))
    return model, ow


def loss_of(model, poison=None):
    loss = model(torch.ones(4, 3)).pow(2).mean()
    return loss * poison if poison is not None else loss


def snapshot(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.fixture
def at_iter():
    hub = MessageHub.get_current_instance()
    old = hub.get_info('iter'), hub.get_info('nonfinite_skipped_steps')
    hub.update_info('iter', 41)
    hub.update_info('nonfinite_skipped_steps', 0)
    yield 41
    hub.update_info('iter', old[0])
    hub.update_info('nonfinite_skipped_steps', old[1])


def test_finite_loss_steps_like_optim_wrapper():
    model, ow = toy('stop')
    before = snapshot(model)
    loss = loss_of(model)
    loss.backward()
    expected = [b - 0.1 * p.grad for b, p in zip(before, model.parameters())]  # first SGD step: buffer = grad
    model.zero_grad()
    ow.update_params(loss_of(model))
    assert all(torch.allclose(p, e) for p, e in zip(model.parameters(), expected))


@pytest.mark.parametrize('poison', [float('nan'), float('inf')])
def test_stop_raises_with_value_and_iteration_and_does_not_step(at_iter, poison):
    model, ow = toy('stop')
    ow.update_params(loss_of(model))  # one normal step, so momentum is non-zero
    before = snapshot(model)
    with pytest.raises(FloatingPointError, match=rf'iteration {at_iter} \(loss = {poison}\)'):
        ow.update_params(loss_of(model, poison))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def test_skip_zeroes_grads_skips_step_counts_and_warns(at_iter, monkeypatch):
    model, ow = toy('skip')
    ow.update_params(loss_of(model))
    before = snapshot(model)
    logged = []
    monkeypatch.setattr('openmix.engine.optim_wrappers.print_log',
                        lambda msg, logger=None, level=logging.INFO: logged.append((level, msg)))
    ow.update_params(loss_of(model, float('nan')))
    ow.update_params(loss_of(model, float('-inf')))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    assert ow.skipped_steps == 2 and MessageHub.get_current_instance().get_info('nonfinite_skipped_steps') == 2
    assert logged == [
        (logging.WARNING, f'non-finite loss at iteration {at_iter} (loss = nan): optimizer step skipped '
                          '(1 skipped so far)'),
        (logging.WARNING, f'non-finite loss at iteration {at_iter} (loss = -inf): optimizer step skipped '
                          '(2 skipped so far)')]
    # training continues normally afterwards
    ow.update_params(loss_of(model))
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_skip_inside_accumulation_keeps_counts_aligned(at_iter):
    model, ow = toy('skip', accumulative_counts=2)
    ow.initialize_count_status(model, 0, 4)
    before = snapshot(model)
    ow.update_params(loss_of(model))  # iter 1: accumulate
    ow.update_params(loss_of(model, float('nan')))  # iter 2: would step; skipped, window dropped
    assert ow._inner_count == 2 and all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    ow.update_params(loss_of(model))
    ow.update_params(loss_of(model))  # iter 4: steps on the two finite losses
    assert not torch.equal(before[0], model.weight)


def test_rejects_unknown_mode():
    with pytest.raises(ValueError, match="'stop' or 'skip'"):
        toy('ignore')


def test_amp_variant_shares_the_guard(monkeypatch, at_iter):
    # AmpOptimWrapper refuses to build without an accelerator; the guard logic does not need one
    monkeypatch.setattr('mmengine.optim.optimizer.amp_optimizer_wrapper.is_cuda_available', lambda: True)
    model, ow = toy('stop', wrapper='GuardedAmpOptimWrapper', dtype='bfloat16')
    assert isinstance(ow, GuardedAmpOptimWrapper) and ow.cast_dtype == torch.bfloat16
    before = snapshot(model)
    with pytest.raises(FloatingPointError, match=f'iteration {at_iter}'):
        ow.update_params(loss_of(model, float('nan')))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert isinstance(OPTIM_WRAPPERS.build(dict(type='GuardedOptimWrapper', optimizer=torch.optim.SGD(
        model.parameters(), lr=0.1))), GuardedOptimWrapper)


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import datetime
    import json

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    result = {}
    for mode in ('skip', 'stop'):
        torch.manual_seed(0)
        model = DistributedDataParallel(torch.nn.Linear(3, 2))
        ow = GuardedOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), nonfinite=mode)
        before = snapshot(model)
        loss = model(torch.ones(4, 3)).pow(2).mean()
        if rank == 1:  # only one rank sees the non-finite loss
            loss = loss * float('nan')
        try:
            ow.update_params(loss)
            result[mode] = 'skipped' if ow.skipped_steps == 1 else 'stepped'
        except FloatingPointError as err:
            result[mode] = f'raised: {err}'
        result[mode + '_unchanged'] = all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
        if mode == 'skip':  # the ranks still agree on the next gradient all-reduce (a desynchronised one would hang)
            ow.update_params(model(torch.ones(4, 3)).pow(2).mean())
    with open(f'{out_dir}/rank{rank}.json', 'w') as f:
        json.dump(result, f)
    dist.destroy_process_group()


def test_ddp_decision_is_identical_on_all_ranks(tmp_path):
    import json

    import torch.multiprocessing as mp
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / 'init'), str(tmp_path)), nprocs=2, join=True)
    results = [json.loads((tmp_path / f'rank{r}.json').read_text()) for r in range(2)]
    for rank, res in enumerate(results):
        assert res['skip'] == 'skipped' and res['skip_unchanged'], (rank, res)
        assert res['stop'].startswith('raised: non-finite loss at') and res['stop_unchanged'], (rank, res)
    assert 'non-finite on another rank' in results[0]['stop'] and '(loss = nan)' in results[1]['stop']
