"""LinearWarmupLR (absolute start) followed by mmengine's CosineAnnealingLR equals timm/DeiT's closed form."""
import math

import pytest
import torch

from openmix.registry import PARAM_SCHEDULERS

EPOCH_LEN, WARMUP, END = 4, 5, 12
BASE = (5e-4, 2e-3)
START, ETA_MIN = 1e-6, 1e-5


def closed_form(t: int, base: float) -> float:
    """timm's scheduler: linear from warmup_lr_init over warmup_t steps, then cosine from base to lr_min."""
    warm = WARMUP * EPOCH_LEN
    if t < warm:
        return START + (base - START) * t / warm
    t_max = (END - WARMUP) * EPOCH_LEN
    return ETA_MIN + 0.5 * (base - ETA_MIN) * (1 + math.cos(math.pi * (t - warm) / t_max))


def make():
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.SGD([dict(params=[params[0]], lr=BASE[0]), dict(params=[params[1]], lr=BASE[1])])
    cfgs = [dict(type='LinearWarmupLR', start_lr=START, by_epoch=True, begin=0, end=WARMUP),
            dict(type='CosineAnnealingLR', eta_min=ETA_MIN, by_epoch=True, begin=WARMUP, end=END)]
    # what mmengine's Runner does for `convert_to_iter_based=True`
    schedulers = [PARAM_SCHEDULERS.get(c.pop('type')).build_iter_from_epoch(optimizer, epoch_length=EPOCH_LEN, **c)
                  for c in cfgs]
    return optimizer, schedulers


def run(optimizer, schedulers, steps):
    lrs = []
    for _ in range(steps):
        lrs.append([g['lr'] for g in optimizer.param_groups])  # the lr used by this iteration
        optimizer.step()
        for s in schedulers:
            s.step()
    return lrs


def test_warmup_then_cosine_matches_closed_form_per_group():
    optimizer, schedulers = make()
    lrs = run(optimizer, schedulers, END * EPOCH_LEN)
    for t, row in enumerate(lrs):
        for base, lr in zip(BASE, row):
            assert lr == pytest.approx(closed_form(t, base), rel=1e-9, abs=1e-15), (t, base)
    assert lrs[0] == [START, START]  # both groups start at the absolute 1e-6
    assert lrs[10] == pytest.approx([START + (b - START) * 0.5 for b in BASE])
    assert lrs[20] == pytest.approx(list(BASE))  # hand-over: exactly the base lr
    assert lrs[-1][1] == pytest.approx(ETA_MIN + 0.5 * (BASE[1] - ETA_MIN) * (1 + math.cos(math.pi * 27 / 28)))


def test_resume_from_state_dicts_continues_the_schedule():
    optimizer, schedulers = make()
    run(optimizer, schedulers, 13)
    states = [s.state_dict() for s in schedulers]
    opt_state = optimizer.state_dict()
    optimizer2, schedulers2 = make()
    optimizer2.load_state_dict(opt_state)
    for s, st in zip(schedulers2, states):
        s.load_state_dict(st)
    lrs = run(optimizer2, schedulers2, END * EPOCH_LEN - 13)
    for t, row in enumerate(lrs, start=13):
        assert row == pytest.approx([closed_form(t, b) for b in BASE], rel=1e-9)


def test_rejects_infinite_end():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match='finite'):
        PARAM_SCHEDULERS.build(dict(type='LinearWarmupLR', optimizer=optimizer))
