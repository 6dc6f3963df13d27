"""TokenMix: Liu et al., "TokenMix: Rethinking Image Mixing for Data Augmentation in Vision Transformers", ECCV 2022
(https://arxiv.org/abs/2207.08409)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from openmix.registry import MIXERS

from .base import BaseMixer, MixedBatch, MixParams, keep_self_pairs

__all__ = ['TokenMix', 'TokenMixBatch', 'block_token_mask', 'random_token_mask', 'num_mixed_tokens']


@dataclass
class TokenMixBatch(MixedBatch):
    """A ``MixedBatch`` that also carries what TokenMix's label rule reads.

    Attributes:
        token_mask: ``(B, gh, gw)`` float, 1 on the tokens taken from the partner (the paper's token mask ``M``).
        clean: ``(B, C, H, W)`` the unmixed images (a reference, not a copy), for the teacher of
            :class:`openmix.models.label_rules.TokenMixLabel`.
    """

    token_mask: torch.Tensor | None = None
    clean: torch.Tensor | None = None


def num_mixed_tokens(lam: float, num_tokens: int, minimum_tokens: int) -> int:
    """Tokens to take from the partner: ``min(N, int((1 - lam) * N) + minimum_tokens)`` (the official count)."""
    return min(num_tokens, int((1.0 - lam) * num_tokens) + minimum_tokens)


def block_token_mask(rng, grid_hw: tuple[int, int], num_masked: int, min_aspect: float = 0.3,
                     min_block: float = 1.0, attempts: int = 10) -> np.ndarray:
    """``(gh, gw)`` bool mask made of random blocks of tokens (TokenMix Sec. 3.2, "block-wise" token masks).

    Blocks of random area (``U(min_block, remaining)`` tokens) and log-uniform aspect ratio in
    ``[min_aspect, 1 / min_aspect]`` are added until ``num_masked`` tokens are covered; a block is accepted when it
    adds at least one new token and no more than the remaining budget; ``attempts`` failed proposals in a row end the
    mask early (so it can hold fewer tokens). BEiT-style block masking, as the official ``generate_mask``.

    ``rng`` needs ``uniform(a, b)`` and ``integers(lo, hi)`` (``hi`` exclusive): a NumPy ``Generator``, or a wrapper of
    Python's ``random.Random`` (then the draws are the official code's, tested).
    """
    gh, gw = int(grid_hw[0]), int(grid_hw[1])
    mask = np.zeros((gh, gw), dtype=bool)
    log_ar = (math.log(min_aspect), math.log(1.0 / min_aspect))
    count = 0
    while count < num_masked:
        budget = min(num_masked - count, gh * gw)
        added = 0
        for _ in range(attempts):
            area = float(rng.uniform(min_block, budget))
            aspect = math.exp(float(rng.uniform(*log_ar)))
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if w < gw and h < gh:
                top = int(rng.integers(0, gh - h + 1))
                left = int(rng.integers(0, gw - w + 1))
                block = mask[top:top + h, left:left + w]
                new = h * w - int(block.sum())
                if 0 < new <= budget:
                    block[...] = True
                    added = new
                if added > 0:
                    break
        if added == 0:
            break
        count += added
    return mask


def random_token_mask(rng: np.random.Generator, grid_hw: tuple[int, int], num_masked: int) -> np.ndarray:
    """``(gh, gw)`` bool mask of ``num_masked`` tokens drawn without replacement (the official ``'random'`` type)."""
    gh, gw = int(grid_hw[0]), int(grid_hw[1])
    mask = np.zeros(gh * gw, dtype=bool)
    mask[rng.permutation(gh * gw)[:num_masked]] = True
    return mask.reshape(gh, gw)


@MIXERS.register_module()
class TokenMix(BaseMixer):
    """Token-level mixing with block-wise token masks (TokenMix paper Sec. 3.2, Eq. (2)).

    A binary mask ``M`` on the token grid (``grid_size``, the ViT's patch grid) marks the tokens taken from the
    partner; it is upsampled to pixels by nearest neighbour and ``x = (1 - M) * x_a + M * x_b``. The mask holds
    ``min(N, int((1 - lam) * N) + minimum_tokens)`` tokens in random blocks (:func:`block_token_mask`) or scattered
    tokens (``mask_type='random'``). The area label weight of the unshuffled sample is the share of tokens it kept,
    ``lam = 1 - |M| / N``; the paper's teacher-activation target is the label rule
    :class:`openmix.models.label_rules.TokenMixLabel` (which reads the ``TokenMixBatch`` this mixer returns).

    The official recipe is the DeiT Mixup/CutMix switch with the CutMix branch replaced by TokenMix:
    ``RandomMix(mixers=[Mixup(0.8), TokenMix()], switch_prob=0.5)``. In that branch the official code ignores the
    Beta draw and always uses ``lam = 0.5`` (``lam_constant``): 112 of 196 tokens before early stops. ``lam=None``
    draws ``lam ~ Beta(alpha, alpha)`` instead, as OpenMixup's port does.

    Args:
        lam: Fixed mixing ratio before the ``minimum_tokens`` offset (official 0.5), or None for ``Beta(alpha, alpha)``.
        alpha: Beta concentration when ``lam`` is None.
        minimum_tokens: Tokens added to ``(1 - lam) * N`` (official 14).
        mask_type: ``'block'`` (official default) or ``'random'``.
        grid_size: Token grid ``(gh, gw)`` or one side (official 14: DeiT at 224 px); set it to the model's patch grid.
        min_aspect: Smallest block aspect ratio (official 0.3).
        prob, pairing, seed: See ``BaseMixer`` (official: flip pairing).

    Example:
        >>> mixer = dict(type='RandomMix', mixers=[dict(type='Mixup', alpha=0.8), dict(type='TokenMix')],
        ...              switch_prob=0.5)

    Differences from the reference code:
        Reference: github.com/Sense-X/TokenMix @ 0e17d5d (``tokenmix.py``: ``generate_mask``,
        ``generate_mask_random``, ``Mixup._mix_batch``), run outside the repo; recorded output in
        ``tests/fixtures/reference/tokenmix.npz`` (see ``tokenmix.md``). Tested equal
        (``tests/mixers/test_tokenmix.py``): the block masks for the same Python ``random`` draws (200 seeds, lam in
        {0.5, Beta draws}, max difference 0), and the mixed images and ``lam`` of ``_mix_batch`` given its mask
        (max difference 0). Deviations:

        * Randomness: our own per-rank, checkpointed NumPy generator instead of Python's ``random`` and NumPy's
          global one: the same distributions, other draws (every batch). Flag: none (the test feeds Python's
          ``random`` through :func:`block_token_mask` to show the draws map one to one).
        * Grid and image size: the official code hard-codes a 14x14 grid and 224 px; ours takes ``grid_size`` and
          upsamples to the batch's size (same nearest upsampling). Equal at 14 / 224 (the default); at other sizes
          the reference crashes or mixes a wrong-sized mask. Flag: ``grid_size=14`` at 224 px.
        * Odd batches: the official code refuses them (``assert len(x) % 2 == 0``); ours leaves the middle sample of
          flip pairing unmixed (lam 1). Never at even batch sizes. Flag: none (the reference crashes).
        * ``lam=None`` (Beta draws, OpenMixup's port, whose mask also ignores its own ``lam`` for the label) is an
          option; the default ``lam=0.5`` is the official code.
        * Per-sample modes: one mask per batch as the official ``mode='batch'``; ``RandomMix`` ``elem``/``pair``
          refuse it (``supports_per_sample = False``). Flag: none.
    """

    name = 'tokenmix'
    supports_per_sample = False

    def __init__(self, lam: float | None = 0.5, alpha: float = 1.0, minimum_tokens: int = 14,
                 mask_type: str = 'block', grid_size: int | tuple[int, int] = 14, min_aspect: float = 0.3,
                 **kwargs) -> None:
        super().__init__(alpha=alpha, **kwargs)
        if mask_type not in ('block', 'random'):
            raise ValueError(f"TokenMix: `mixer.mask_type` must be 'block' or 'random', got {mask_type!r}")
        if lam is not None and not 0.0 <= float(lam) <= 1.0:
            raise ValueError(f'TokenMix: `mixer.lam` must be in [0, 1] or None (Beta draws), got {lam!r}')
        grid = (grid_size, grid_size) if isinstance(grid_size, int) else tuple(grid_size)
        if len(grid) != 2 or not all(isinstance(g, int) and g > 0 for g in grid):
            raise ValueError(f'TokenMix: `mixer.grid_size` must be a positive int or (gh, gw), got {grid_size!r}')
        if not 0.0 < min_aspect <= 1.0:
            raise ValueError(f'TokenMix: `mixer.min_aspect` must be in (0, 1], got {min_aspect!r}')
        if isinstance(minimum_tokens, bool) or not isinstance(minimum_tokens, int) or minimum_tokens < 0:
            raise ValueError(f'TokenMix: `mixer.minimum_tokens` must be an int >= 0, got {minimum_tokens!r}')
        self.lam = None if lam is None else float(lam)
        self.minimum_tokens = minimum_tokens
        self.mask_type = mask_type
        self.grid_size = grid
        self.min_aspect = float(min_aspect)

    @property
    def draws_beta(self) -> bool:
        """``alpha`` matters only when lam is drawn (``lam=None``)."""
        return self.lam is None

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        if n != 1:
            raise ValueError('TokenMix draws one token mask per batch (mode="batch")')
        lam = self.lam if self.lam is not None else float(self.sample_lam(rng, 1)[0])
        tokens = self.grid_size[0] * self.grid_size[1]
        k = num_mixed_tokens(lam, tokens, self.minimum_tokens)
        if self.mask_type == 'block':
            mask = block_token_mask(rng, self.grid_size, k, self.min_aspect)
        else:
            mask = random_token_mask(rng, self.grid_size, k)
        return MixParams(np.array([1.0 - mask.sum() / tokens]), extra=dict(token_mask=mask))

    def partner_weight(self, params: MixParams, x: torch.Tensor) -> torch.Tensor:
        mask = torch.from_numpy(params.extra['token_mask']).to(x.device, non_blocking=True)
        return F.interpolate(mask[None, None].to(x.dtype), size=tuple(x.shape[-2:]), mode='nearest')

    def mix_whole_batch_with(self, owner: BaseMixer, x: torch.Tensor, params: MixParams) -> MixedBatch:
        b = x.shape[0]
        index = owner.partner_index(b, x.device)
        weight = self.partner_weight(params, x)
        mixed = torch.where(weight > 0.5, x.index_select(0, index), x)
        token_mask = torch.from_numpy(params.extra['token_mask']).to(x.device, non_blocking=True)
        lam = keep_self_pairs(torch.full((b,), float(params.lam[0]), device=x.device), index)
        return TokenMixBatch(mixed, index, lam, self.name, mask=weight.expand(b, -1, -1, -1),
                             is_box=torch.zeros(b, dtype=torch.bool, device=x.device),
                             token_mask=token_mask[None].float().expand(b, -1, -1), clean=x)

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, lam={self.lam}, minimum_tokens={self.minimum_tokens}, '
                f'mask_type={self.mask_type!r}, grid_size={self.grid_size}, min_aspect={self.min_aspect}')
