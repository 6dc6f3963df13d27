"""Robustness of a classifier to random patch drop (occlusion) and patch shuffling, batched on the device.

The protocol is Naseer et al., "Intriguing Properties of Vision Transformers", NeurIPS 2021
(https://arxiv.org/abs/2105.10497): their random patch drop and patch shuffle experiments, as used by TransMix
(Chen et al., CVPR 2022, Sec. 4.3, "robustness to occlusion" and "shuffle"). Their code
(github.com/Muzammal-Naseer/Intriguing-Properties-of-Vision-Transformers, commit 9aa9fead, ``evaluate.py``, the
``--random_drop`` and ``--shuffle`` branches) works on ``ToTensor()`` images in [0, 1] and normalises afterwards, so
a dropped patch is **a black pixel (0 in pixel space)**, not 0 in normalised space (the mean colour). Our
corruptions run after the data preprocessor, on normalised inputs, so the drop fills ``(0 - mean) / std`` per channel:
the same network input as theirs. ``occlusion_fill='mean'`` fills 0 in normalised space instead (the dataset's mean
colour); the two differ a lot: the 30-epoch TransMix demo model keeps 24.4% top-1 at ratio 0.25 with the mean colour
and drops to 10.4% (chance) with black patches, predicting one class for 471 of 500 images. Shuffling only moves
pixels, so it is the same in either space.

Differences from the reference code (Naseer et al.'s ``evaluate.py``):
- one random draw per image (which patches, which permutation), where theirs draws one set of patches or one
  permutation per batch shared by all its images: every batch at default settings. With per-image draws no two images
  of a batch share one occluded layout; there is no flag restoring the shared draw.
- the number of dropped patches is ``round(ratio * N)`` (half up) where theirs is ``floor(k * N / 10)`` for
  ratio k / 10; equal whenever ``ratio * N`` is an integer (ratios 0.25 / 0.5 / 0.75 with N = 196 or 64).
- draws come from our own seeded generator (``seed + rank``, reset for each setting), theirs from numpy's global
  state; the dataloader is the config's test loader (theirs shuffles the test set).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from mmengine.dist import get_rank
from mmengine.evaluator import Evaluator
from mmengine.model import is_model_wrapper
from mmengine.runner.amp import autocast

from .accuracy import Accuracy

__all__ = ['PatchDrop', 'PatchShuffle', 'patch_drop', 'patch_shuffle', 'model_patch_size', 'pixel_zero_fill',
           'evaluate_corrupted', 'evaluate_robustness', 'robustness_table']

#: patch size when the model has no patch embedding (CNNs): DeiT/ViT-S/16's, as in Naseer et al. (224 / 14)
DEFAULT_PATCH_SIZE = 16
#: what a dropped patch is filled with: a black pixel (Naseer et al.'s convention), or 0 after normalisation
OCCLUSION_FILLS = {'black': 'black pixel (0 in pixel space) = -mean/std per channel after normalisation '
                            '(Naseer et al. 2021, evaluate.py)',
                   'mean': '0 in normalised space (the normalisation mean colour)'}


def _grid(hw: Sequence[int], cells: tuple[int, int], what: str) -> None:
    if hw[0] % cells[0] or hw[1] % cells[1]:
        raise ValueError(f'{what}: the image size {tuple(hw)} is not divisible into a {cells[0]} x {cells[1]} grid')


def drop_count(ratio: float, num_patches: int) -> int:
    """Patches dropped at ``ratio`` of ``num_patches``: ``round(ratio * N)``, halves rounded up."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f'occlusion ratio must be in [0, 1], got {ratio}')
    return min(num_patches, math.floor(ratio * num_patches + 0.5))


def patch_drop(inputs: torch.Tensor, ratio: float, patch_size: int | tuple[int, int] = DEFAULT_PATCH_SIZE,
               fill: float | torch.Tensor = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Set ``round(ratio * N)`` randomly chosen patches of each image to ``fill`` (N patches of ``patch_size``).

    Args:
        inputs: ``(B, C, H, W)`` images (any device, any memory format); H and W multiples of the patch size.
        ratio: share of the patches to drop, in [0, 1].
        patch_size: patch height and width (an int for square patches).
        fill: the value of a dropped pixel: a scalar or a ``(1, C, 1, 1)`` tensor (:func:`pixel_zero_fill`).
        generator: CPU generator of the draws (one row of N uniform keys per image; the lowest k are dropped).

    Returns:
        ``(B, C, H, W)`` tensor; each image has its own set of dropped patches.
    """
    b, _, h, w = inputs.shape
    ph, pw = (patch_size, patch_size) if isinstance(patch_size, int) else tuple(patch_size)
    if h % ph or w % pw:
        raise ValueError(f'patch_drop: the image size {(h, w)} is not a multiple of the patch size {(ph, pw)}')
    gh, gw = h // ph, w // pw
    k = drop_count(ratio, gh * gw)
    if k == 0:
        return inputs
    keys = torch.rand(b, gh * gw, generator=generator).to(inputs.device, non_blocking=True)
    drop = torch.zeros(b, gh * gw, dtype=torch.bool, device=inputs.device)
    drop.scatter_(1, keys.argsort(dim=1)[:, :k], True)
    mask = drop.view(b, 1, gh, 1, gw, 1).expand(b, 1, gh, ph, gw, pw).reshape(b, 1, h, w)
    fill = torch.as_tensor(fill, dtype=inputs.dtype, device=inputs.device)
    return torch.where(mask, fill, inputs)


def patch_shuffle(inputs: torch.Tensor, grid: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Cut each image into a ``grid x grid`` array of patches and put them back in a random order (one per image).

    Args:
        inputs: ``(B, C, H, W)`` images; H and W multiples of ``grid``.
        grid: g; ``g = 1`` is the identity.
        generator: CPU generator of the permutations (argsort of ``g * g`` uniform keys per image).
    """
    if int(grid) != grid or grid < 1:
        raise ValueError(f'patch shuffle grid must be a positive integer, got {grid!r}')
    grid = int(grid)
    b, c, h, w = inputs.shape
    _grid((h, w), (grid, grid), 'patch_shuffle')
    if grid == 1:
        return inputs
    ph, pw, n = h // grid, w // grid, grid * grid
    patches = inputs.reshape(b, c, grid, ph, grid, pw).permute(0, 2, 4, 1, 3, 5).reshape(b, n, c, ph, pw)
    perm = torch.rand(b, n, generator=generator).argsort(dim=1).to(inputs.device, non_blocking=True)
    patches = patches[torch.arange(b, device=inputs.device).view(-1, 1), perm]
    return patches.reshape(b, grid, grid, c, ph, pw).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


class PatchDrop:
    """Seeded random patch drop at one ratio (:func:`patch_drop`); the generator restarts with each instance."""

    def __init__(self, ratio: float, patch_size: int | tuple[int, int] = DEFAULT_PATCH_SIZE,
                 fill: float | torch.Tensor = 0.0, seed: int = 0) -> None:
        drop_count(ratio, 1)  # validates the ratio
        self.ratio, self.patch_size, self.fill = float(ratio), patch_size, fill
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        return patch_drop(inputs, self.ratio, self.patch_size, self.fill, self.generator)


class PatchShuffle:
    """Seeded patch shuffle on a ``grid x grid`` array (:func:`patch_shuffle`)."""

    def __init__(self, grid: int, seed: int = 0) -> None:
        if int(grid) != grid or grid < 1:
            raise ValueError(f'patch shuffle grid must be a positive integer, got {grid!r}')
        self.grid = int(grid)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        return patch_shuffle(inputs, self.grid, self.generator)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if is_model_wrapper(model) else model


def model_patch_size(model: torch.nn.Module, default: int = DEFAULT_PATCH_SIZE) -> tuple[int, int]:
    """The patch size of the model's patch embedding (timm ViT/DeiT/CaiT...: ``patch_embed.patch_size``), else
    ``(default, default)`` (CNNs)."""
    for module in _unwrap(model).modules():
        embed = getattr(module, 'patch_embed', None)
        size = getattr(embed, 'patch_size', None)
        if size is not None:
            size = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
            return size
    return (default, default)


def pixel_zero_fill(model: torch.nn.Module) -> torch.Tensor | float:
    """What a black pixel (0 in 0-255 / 0-1 space) becomes after the model's data preprocessor: ``-mean / std``,
    ``(1, C, 1, 1)``; 0 for a preprocessor without ``mean``/``std`` (inputs not normalised)."""
    pre = getattr(_unwrap(model), 'data_preprocessor', None)
    mean, std = getattr(pre, 'mean', None), getattr(pre, 'std', None)
    if mean is None or std is None:
        return 0.0
    return (-mean / std).detach().float().view(1, -1, 1, 1)


@torch.no_grad()
def evaluate_corrupted(model: torch.nn.Module, dataloader, corrupt: Callable[[torch.Tensor], torch.Tensor],
                       prefix: str, fp16: bool = False) -> dict[str, float]:
    """Top-1 of ``model`` on ``dataloader`` with ``corrupt`` applied to the preprocessed (normalised) inputs.

    The batches go through the model's own data preprocessor (as in ``test_step``), then ``corrupt``, then
    ``predict``; the results are gathered across ranks by an mmengine ``Evaluator`` (exact under DDP padding).

    Returns:
        ``{f'{prefix}/top1': percent}``.
    """
    module = _unwrap(model)
    was_training = module.training
    module.eval()
    evaluator = Evaluator(Accuracy(topk=1, prefix=prefix))
    for data in dataloader:
        with autocast(enabled=fp16):
            data = module.data_preprocessor(data, False)
            outputs = module(corrupt(data['inputs']), data['data_samples'], mode='predict')
        evaluator.process(outputs, data)
    module.train(was_training)
    return evaluator.evaluate(len(dataloader.dataset))


def evaluate_robustness(runner, occlusion: Sequence[float] = (), patch_shuffle: Sequence[int] = (),
                        patch_size: int | None = None, seed: int = 0,
                        occlusion_fill: str = 'black') -> tuple[dict[str, float], dict]:
    """Top-1 under random patch drop at each ratio and patch shuffle at each grid, on the runner's test loader.

    Keys: ``robustness/occlusion_{ratio}/top1`` and ``robustness/patch_shuffle_{g}/top1``. Each setting restarts the
    generator from ``seed + rank``, so a setting's draws do not depend on which others are run.

    Args:
        runner: an mmengine ``Runner`` whose model holds the weights to evaluate (its ``test_dataloader`` and the
            test loop's ``fp16`` are used).
        occlusion: drop ratios in [0, 1].
        patch_shuffle: grid sizes g.
        patch_size: occlusion patch size (default: the model's patch size, 16 for a model without patches).
        seed: base seed.
        occlusion_fill: ``'black'`` (0 in pixel space, Naseer et al.; default) or ``'mean'`` (0 in normalised space).

    Returns:
        ``(metrics, settings)``: settings records the patch size, the fill value and the seed.
    """
    loop = runner.test_loop  # builds the test dataloader once
    fp16 = bool(getattr(loop, 'fp16', False))
    size = (patch_size, patch_size) if patch_size else model_patch_size(runner.model)
    if occlusion_fill not in OCCLUSION_FILLS:
        raise ValueError(f'occlusion_fill must be one of {sorted(OCCLUSION_FILLS)}, got {occlusion_fill!r}')
    fill = pixel_zero_fill(runner.model) if occlusion_fill == 'black' else 0.0
    rank_seed = seed + get_rank()
    metrics: dict[str, float] = {}
    for ratio in occlusion:
        corrupt = PatchDrop(ratio, size, fill, seed=rank_seed)
        metrics.update(evaluate_corrupted(runner.model, loop.dataloader, corrupt, f'robustness/occlusion_{ratio:g}',
                                          fp16))
    for grid in patch_shuffle:
        corrupt = PatchShuffle(grid, seed=rank_seed)
        metrics.update(evaluate_corrupted(runner.model, loop.dataloader, corrupt, f'robustness/patch_shuffle_{grid}',
                                          fp16))
    fill_list = fill.flatten().tolist() if isinstance(fill, torch.Tensor) else [fill]
    settings = dict(seed=seed, occlusion_patch_size=list(size), occlusion_fill=OCCLUSION_FILLS[occlusion_fill],
                    occlusion_fill_normalised=[round(v, 6) for v in fill_list])
    return metrics, settings


def robustness_table(metrics: dict[str, float]) -> str:
    """A plain-text table of clean top-1, ECE and top-1 under each corruption found in ``metrics``."""
    rows = []
    if 'accuracy/top1' in metrics:
        rows.append(('clean', 'top-1', metrics['accuracy/top1']))
    if 'calibration/ece' in metrics:
        rows.append(('clean', 'ECE', metrics['calibration/ece']))
    for key, value in metrics.items():
        if key.startswith('robustness/') and key.endswith('/top1'):
            name = key[len('robustness/'):-len('/top1')]
            kind, _, setting = name.rpartition('_')
            label = f'occlusion ratio {setting}' if kind == 'occlusion' else f'patch shuffle {setting}x{setting}'
            rows.append((label, 'top-1', value))
    width = max([len(r[0]) for r in rows] + [len('evaluation')])
    lines = [f'{"evaluation":<{width}}  metric  value (%)', f'{"-" * width}  ------  ---------']
    lines += [f'{label:<{width}}  {what:<6}  {value:9.2f}' for label, what, value in rows]
    return '\n'.join(lines)
