"""The mixer contract: a ``MixedBatch`` and the ``BaseMixer`` every input-mixing method subclasses.

A mixer turns a normalised batch ``x`` of shape ``(B, C, H, W)`` into a ``MixedBatch``: the mixed images, the
partner of each sample, the per-sample area weight ``lam`` of the unshuffled sample, and the box or mask that made
it. Label assignment (area-based, TransMix, ...) is a separate step that reads the ``MixedBatch``.

Randomness comes from the mixer's own NumPy ``Generator`` (a few scalars per batch are drawn on the host; the pixels
are mixed on ``x.device``). It is seeded from the run seed and the process rank, and its state travels in checkpoints
(``get_rng_state``/``set_rng_state``) so a resumed run mixes exactly as the uninterrupted one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ['MixedBatch', 'MixParams', 'BaseMixer', 'default_seed', 'keep_self_pairs']


@dataclass
class MixedBatch:
    """Result of input mixing.

    Attributes:
        inputs: ``(B, C, H, W)`` mixed images.
        index: ``(B,)`` int64 partner of each sample (``x_b = x[index]``).
        lam: ``(B,)`` float weight of the unshuffled sample: ``1 - `` the partner's share of the pixels.
        mode: name of the method that mixed the batch (``'none'`` when nothing was mixed).
        box: ``(B, 4)`` int64 ``(y_lo, y_hi, x_lo, x_hi)`` pasted boxes for box-based mixing, an empty box for
            samples mixed otherwise; None when no sample was box-mixed.
        mask: ``(B, 1, H, W)`` or ``(B, 1, 1, 1)`` float partner weight that produced ``inputs``, if kept.
        is_box: ``(B,)`` bool, True where the sample was mixed with a box (TransMix relabels only those).
    """

    inputs: torch.Tensor
    index: torch.Tensor
    lam: torch.Tensor
    mode: str
    box: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    is_box: torch.Tensor | None = None


@dataclass
class MixParams:
    """Host-side parameters of one mixer for ``n`` samples: ``lam`` (n,), for box methods ``box`` (n, 4), and any
    method-specific arrays in ``extra``."""

    lam: np.ndarray
    box: np.ndarray | None = None
    extra: dict | None = None

    def subset(self, sel: np.ndarray) -> MixParams:
        """The parameters of the samples where ``sel`` is True (scalars in ``extra`` are shared)."""
        pick = lambda v: v[sel] if isinstance(v, np.ndarray) and v.shape[:1] == sel.shape else v  # noqa: E731
        return MixParams(self.lam[sel], None if self.box is None else self.box[sel],
                         None if self.extra is None else {k: pick(v) for k, v in self.extra.items()})


def keep_self_pairs(lam: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """lam = 1 for a sample paired with itself (the middle of an odd batch under flip pairing): it is unmixed."""
    return torch.where(index == torch.arange(index.shape[0], device=index.device), torch.ones_like(lam), lam)


def default_seed() -> int:
    """Seed derived from the run seed (mmengine seeds torch before building the model) and the process rank."""
    from mmengine.dist import get_rank
    return int(np.random.SeedSequence([torch.initial_seed(), get_rank()]).generate_state(1, np.uint64)[0])


class BaseMixer(nn.Module):
    """Base class of input mixers.

    Subclasses implement ``draw`` (host-side parameters for ``n`` samples) and ``partner_weight`` (per-sample
    weight of the partner's pixels on the device); they may override ``mix_batch`` with a faster whole-batch path.

    ``alpha = 0`` switches a method that draws lam from Beta(alpha, alpha) off, as timm's ``mixup_alpha=0`` /
    ``cutmix_alpha=0``: its batches pass unmixed (``enabled`` is False), and ``RandomMix`` never chooses it. A
    negative alpha is refused when the mixer is built.

    Args:
        alpha: Beta(alpha, alpha) concentration of lam (0: the method is off).
        prob: probability that a batch is mixed at all (lam = 1 otherwise; targets are still smoothed).
        pairing: ``'flip'`` pairs sample i with B-1-i (timm/TransMix/Token Labeling; an odd batch keeps its middle
            sample unmixed) or ``'perm'`` pairs with a random permutation (OpenMixup, mmpretrain).
        seed: generator seed; by default derived from the run seed and the rank.
    """

    name = 'base'
    uses_box = False
    #: whether ``alpha`` sets the distribution of lam (then alpha = 0 switches the method off)
    draws_beta = True
    #: False for methods that cannot express a sample's mix as a partner weight (RandomMix elem/pair refuse them)
    supports_per_sample = True

    def __init__(self, alpha: float = 1.0, prob: float = 1.0, pairing: str = 'flip', seed: int | None = None) -> None:
        super().__init__()
        if pairing not in ('flip', 'perm'):
            raise ValueError(f"pairing must be 'flip' or 'perm', got {pairing!r}")
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha >= 0:
            raise ValueError(f'{type(self).__name__}: alpha must be a number >= 0 (0 switches the method off, as '
                             f'timm), got {alpha!r}')
        self.alpha = float(alpha)
        self.prob = float(prob)
        self.pairing = pairing
        self.enabled = True
        self.rng = np.random.default_rng(default_seed() if seed is None else seed)

    @property
    def alpha_off(self) -> bool:
        """True when ``alpha = 0`` switches this method off (it draws lam from Beta(alpha, alpha))."""
        return self.draws_beta and self.alpha == 0.0

    @property
    def enabled(self) -> bool:
        """Whether batches are mixed: False when switched off by ``MixOffHook`` or by ``alpha = 0``."""
        return self._enabled and not self.alpha_off

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._enabled = bool(value)

    def get_rng_state(self) -> dict:
        """Generator state as plain Python types (safe for ``torch.load(weights_only=True)``)."""
        return self.rng.bit_generator.state

    def set_rng_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def partner_index(self, batch_size: int, device: torch.device) -> torch.Tensor:
        if self.pairing == 'flip':
            return torch.arange(batch_size - 1, -1, -1, device=device)
        return torch.from_numpy(self.rng.permutation(batch_size)).to(device, non_blocking=True)

    def sample_lam(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.beta(self.alpha, self.alpha, size=n)

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        """Host-side parameters for ``n`` samples."""
        raise NotImplementedError

    def partner_weight(self, params: MixParams, x: torch.Tensor) -> torch.Tensor:
        """``(n, 1, H, W)`` or ``(n, 1, 1, 1)`` weight of the partner's pixels, on ``x.device`` in ``x.dtype``."""
        raise NotImplementedError

    def mix_batch(self, x: torch.Tensor, index: torch.Tensor, params: MixParams) -> torch.Tensor:
        """Mix the whole batch with one set of parameters (``params`` holds one sample's); may work in place."""
        return x.lerp_(x.index_select(0, index), self.partner_weight(params, x))  # a copy: safe in place

    def unmixed(self, x: torch.Tensor) -> MixedBatch:
        b = x.shape[0]
        return MixedBatch(x, torch.arange(b, device=x.device), torch.ones(b, device=x.device), 'none')

    def forward(self, x: torch.Tensor) -> MixedBatch:
        """Mix a batch with one lam and one geometry for all samples (timm's ``mode='batch'``)."""
        if not self.enabled or self.rng.random() >= self.prob:
            return self.unmixed(x)
        return self.mix_whole_batch(x, self.draw(self.rng, 1, x.shape[-2:]))

    def mix_whole_batch(self, x: torch.Tensor, params: MixParams) -> MixedBatch:
        return self.mix_whole_batch_with(self, x, params)

    def mix_whole_batch_with(self, owner: BaseMixer, x: torch.Tensor, params: MixParams) -> MixedBatch:
        """Mix the batch with ``params``; ``owner`` (this mixer or a wrapper) provides pairing and randomness."""
        b = x.shape[0]
        if float(params.lam[0]) == 1.0:
            return self.unmixed(x)
        index = owner.partner_index(b, x.device)
        mixed = self.mix_batch(x, index, params)
        lam = keep_self_pairs(torch.full((b,), float(params.lam[0]), device=x.device), index)
        box = None
        if params.box is not None:
            box = torch.as_tensor(params.box, device=x.device).expand(b, 4)
        return MixedBatch(mixed, index, lam, self.name, box=box,
                          is_box=torch.full((b,), self.uses_box, device=x.device))

    def extra_repr(self) -> str:
        return f'alpha={self.alpha}, prob={self.prob}, pairing={self.pairing!r}'
