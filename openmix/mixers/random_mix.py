"""Random choice between mixers: timm's Mixup/CutMix switch and OpenMixup's ``mix_mode`` list in one class."""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch
from mmengine.logging import print_log

from openmix.registry import MIXERS
from .base import BaseMixer, MixedBatch, keep_self_pairs


#: OpenMixup ``mix_mode`` names -> openmix mixer types
OPENMIXUP_NAMES = {'mixup': 'Mixup', 'cutmix': 'CutMix', 'fmix': 'FMix', 'smoothmix': 'SmoothMix',
                   'gridmix': 'GridMix', 'resizemix': 'ResizeMix', 'saliencymix': 'SaliencyMix',
                   'attentivemix': 'AttentiveMix'}


def openmixup_mixers(mix_mode: Sequence[str], mix_alpha: float | Sequence[float] | None) -> list[dict]:
    """Mixer configs for OpenMixup's ``mix_mode`` list and its ``alpha`` (one value or one per mode)."""
    modes = [mix_mode] if isinstance(mix_mode, str) else list(mix_mode)
    alphas = [mix_alpha] * len(modes) if mix_alpha is None or isinstance(mix_alpha, (int, float)) else list(mix_alpha)
    if len(alphas) != len(modes):
        raise ValueError(f'mix_alpha needs one value per mix_mode ({len(modes)}), got {mix_alpha}')
    out = []
    for m, a in zip(modes, alphas):
        if m not in OPENMIXUP_NAMES:
            raise KeyError(f'mix_mode {m!r} is not one of {sorted(OPENMIXUP_NAMES)} (other methods: use `mixers`)')
        out.append(dict(type=OPENMIXUP_NAMES[m]) if a is None else dict(type=OPENMIXUP_NAMES[m], alpha=float(a)))
    return out


@MIXERS.register_module()
class RandomMix(BaseMixer):
    """Pick one of several mixers per batch (or per sample), as the DeiT recipe and OpenMixup do.

    timm ``Mixup`` (Touvron et al., DeiT, ICML 2021 recipe: mixup 0.8, cutmix 1.0, switch 0.5) draws, per batch:
    apply with ``prob``; then CutMix with ``switch_prob`` else Mixup; then lam from the chosen method's Beta. That is
    ``RandomMix(mixers=[Mixup(0.8), CutMix(1.0)], switch_prob=0.5)``. OpenMixup's ``mix_mode=[...]`` with
    ``mix_prob=[...]`` (uniform when None) is ``RandomMix(mixers=[...], probs=[...])``. When no mix is drawn the
    batch is returned with lam = 1 and the target is still smoothed, as in timm.

    Args:
        mixers: mixer configs or modules; their own ``prob``/``pairing``/``seed`` are ignored (this wrapper draws).
        probs: probability of each mixer (normalised; uniform if None).
        switch_prob: with exactly two mixers, the probability of the second one (timm's name); excludes ``probs``.
        prob: probability that mixing is applied at all (per batch, or per sample in ``elem``/``pair`` modes).
        mode: ``'batch'`` (one draw per batch), ``'pair'`` (one draw per pair i, B-1-i, mixed symmetrically;
            needs ``pairing='flip'``) or ``'elem'`` (one draw per sample).
        pairing, seed: see ``BaseMixer``.
        mix_mode, mix_alpha, mix_prob: OpenMixup's spelling, instead of ``mixers``/``probs``: method names
            (``'mixup'``, ``'cutmix'``, ``'fmix'``, ...) with one alpha each, e.g.
            ``RandomMix(mix_mode=['mixup', 'cutmix'], mix_alpha=[0.8, 1.0], mix_prob=None)`` (OpenMixup's DeiT mode).

    A mixer with ``alpha = 0`` is off and never chosen (timm: ``mixup_alpha=0`` or ``cutmix_alpha=0`` leaves the other
    method always on, whatever ``switch_prob`` says); when every mixer is off, so is RandomMix; ``probs`` that weigh
    only mixers that are off are refused when it is built.

    Differences from the reference code (timm ``Mixup``; tested in ``tests/mixers/test_reference_timm.py``: batch
    mode reproduces timm draw for draw, alpha-0 members included, and elem/pair modes given the same parameters):
        - The method is chosen with ``Generator.choice`` (the second of two iff ``u >= p[0]``) where timm uses the
          second iff ``u < switch_prob``: the same probabilities, other draws. Elem/pair modes draw apply/choice/lam
          in another order (vectorised per method). Randomness from our own per-rank generator. No flag.
        - OpenMixup (``mix_mode`` list) picks the mode with ``random.choices``/``np.random.choice`` per iteration and
          pairs by permutation: ``pairing='perm'``; not compared with recorded output.
    """

    name = 'random'

    def __init__(self, mixers: Sequence[dict | BaseMixer] | None = None, probs: Sequence[float] | None = None,
                 switch_prob: float | None = None, prob: float = 1.0, mode: str = 'batch', pairing: str = 'flip',
                 seed: int | None = None, mix_mode: Sequence[str] | None = None,
                 mix_alpha: float | Sequence[float] | None = None, mix_prob: Sequence[float] | None = None) -> None:
        super().__init__(alpha=1.0, prob=prob, pairing=pairing, seed=seed)
        if mix_mode is not None:
            if mixers is not None or probs is not None:
                raise ValueError('give either mixers/probs or OpenMixup\'s mix_mode/mix_prob, not both')
            mixers = openmixup_mixers(mix_mode, mix_alpha)
            probs = mix_prob
        if not mixers:
            raise ValueError('RandomMix needs at least one mixer in `mixers`')
        if mode not in ('batch', 'pair', 'elem'):
            raise ValueError(f"mode must be 'batch', 'pair' or 'elem', got {mode!r}")
        if mode == 'pair' and pairing != 'flip':
            raise ValueError("mode='pair' mixes i with B-1-i symmetrically and needs pairing='flip'")
        self.mixers = torch.nn.ModuleList(m if isinstance(m, BaseMixer) else MIXERS.build(m) for m in mixers)
        guided = [type(m).__name__ for m in self.mixers if getattr(m, 'guided', False)]
        if guided:
            raise ValueError(f"RandomMix: {', '.join(guided)} need(s) the network and cannot be chosen at random "
                             'among input mixers; use it as model.mixer on its own')
        whole = [type(m).__name__ for m in self.mixers if not m.supports_per_sample]
        if mode != 'batch' and whole:
            raise ValueError(f"{', '.join(whole)} mix whole batches only: use mode='batch' (got mode={mode!r})")
        if switch_prob is not None:
            if probs is not None or len(self.mixers) != 2:
                raise ValueError('switch_prob needs exactly two mixers and no `probs`')
            probs = [1.0 - switch_prob, switch_prob]
        if probs is None:
            probs = [1.0] * len(self.mixers)
        probs = np.asarray(probs, dtype=np.float64)
        if probs.shape != (len(self.mixers),) or (probs < 0).any() or probs.sum() <= 0:
            raise ValueError(f'probs must hold one non-negative weight per mixer, got {list(probs)}')
        off = np.array([m.alpha_off for m in self.mixers])
        names = lambda sel: ', '.join(f'{type(m).__name__}(alpha={m.alpha:g})' for m, o in zip(self.mixers, sel) if o)  # noqa: E731
        if off.all():
            print_log(f'RandomMix: every mixer has alpha=0 ({names(off)}): mixing is off, as timm with '
                      'mixup_alpha=0 and cutmix_alpha=0', logger='current', level=logging.WARNING)
        elif off.any():  # timm: a method with alpha 0 is never chosen, whatever switch_prob says
            if probs[~off].sum() <= 0:
                raise ValueError(f'RandomMix: probs {list(probs)} give no weight to the mixers that are on; '
                                 f'{names(off)} are off (alpha=0)')
            print_log(f'RandomMix: {names(off)} off (alpha=0, as timm): never chosen', logger='current',
                      level=logging.INFO)
            probs = np.where(off, 0.0, probs)
        self.probs = probs / probs.sum()
        self.mode = mode

    @property
    def alpha_off(self) -> bool:
        """Off when every mixer is off (alpha = 0)."""
        return all(m.alpha_off for m in self.mixers)

    def forward(self, x: torch.Tensor) -> MixedBatch:
        if not self.enabled:
            return self.unmixed(x)
        if self.mode == 'batch':
            if self.rng.random() >= self.prob:
                return self.unmixed(x)
            mixer = self.mixers[int(self.rng.choice(len(self.mixers), p=self.probs))]
            out = mixer.mix_whole_batch_with(self, x, mixer.draw(self.rng, 1, x.shape[-2:]))
            return out
        return self._mix_per_sample(x)

    def _mix_per_sample(self, x: torch.Tensor) -> MixedBatch:
        """``elem``/``pair`` modes: each sample (pair) draws apply/mixer/lam; one fused lerp mixes the batch."""
        b = x.shape[0]
        img_hw = (int(x.shape[-2]), int(x.shape[-1]))
        n = b if self.mode == 'elem' else b // 2
        applied = self.rng.random(n) < self.prob
        choice = self.rng.choice(len(self.mixers), size=n, p=self.probs)
        lam = np.ones(n)
        box = np.zeros((n, 4), dtype=np.int64)
        is_box = np.zeros(n, dtype=bool)
        weights = []  # (sample indices, their partner weights): masks are computed for selected samples only
        for k, mixer in enumerate(self.mixers):  # loop over methods (2-3), never over samples
            if mixer.alpha_off:  # never chosen; Beta(0, 0) cannot be drawn
                continue
            params = mixer.draw(self.rng, n, img_hw)
            sel = applied & (choice == k)
            if not sel.any():
                continue
            lam = np.where(sel, params.lam, lam)
            idx = torch.from_numpy(np.flatnonzero(sel)).to(x.device, non_blocking=True)
            weights.append((idx, mixer.partner_weight(params.subset(sel), x[:1])))
            if params.box is not None:
                box = np.where(sel[:, None], params.box, box)
                is_box |= sel
        spatial = any(w.shape[-1] > 1 for _, w in weights)
        weight = x.new_zeros((n, 1) + (img_hw if spatial else (1, 1)))
        for idx, w in weights:
            weight[idx] = w.expand(-1, -1, *weight.shape[2:]) if w.shape[-1] == 1 else w
        if self.mode == 'pair':  # sample B-1-i mirrors sample i; an odd middle sample stays unmixed
            mid = b - 2 * n
            lam = np.concatenate([lam, np.ones(mid), lam[::-1]])
            box = np.concatenate([box, np.zeros((mid, 4), dtype=np.int64), box[::-1]])
            is_box = np.concatenate([is_box, np.zeros(mid, dtype=bool), is_box[::-1]])
            weight = torch.cat([weight, weight.new_zeros((mid,) + weight.shape[1:]), weight.flip(0)])
        index = self.partner_index(b, x.device)
        mixed = x.lerp_(x.index_select(0, index), weight)  # a copy: safe in place
        to_dev = lambda a, dt: torch.as_tensor(a, dtype=dt).to(x.device, non_blocking=True)  # noqa: E731
        lam_t = keep_self_pairs(to_dev(lam, torch.float32), index)
        return MixedBatch(mixed, index, lam_t, self.mode, box=to_dev(box, torch.int64),
                          mask=weight, is_box=to_dev(is_box, torch.bool))

    def extra_repr(self) -> str:
        return f'mode={self.mode!r}, prob={self.prob}, probs={[round(p, 4) for p in self.probs]}'
