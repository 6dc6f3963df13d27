"""PuzzleMix: Kim, Choo and Song, "Puzzle Mix: Exploiting Saliency and Local Statistics for Optimal Mixup", ICML 2020
(https://arxiv.org/abs/2009.06962). Official code: snu-mllab/PuzzleMix (``main.py``, ``mixup.py``); also OpenMixup
``openmixup/models/augments/puzzlemix.py`` (a port of the same algorithm, not compared with ours).

One training step, following the official code (read from it; the graph-cut labelling and the transport are tested
against recorded official output, the rest is not) (the paper states the objective and its alternating minimisation;
its section and equation numbers are not cited here because they were not checked against the PDF):

1. **Saliency**: the network in eval mode (BN statistics untouched, dropout off) classifies the clean batch; the
   cross-entropy with the labels is differentiated w.r.t. the (normalised) input only, and the saliency of a pixel is
   ``sqrt(mean_c grad^2)``. It is average-pooled to the block grid and normalised to sum 1 per image.
2. **Mask** (the multi-label objective): each block of an ``n x n`` grid (``n`` drawn per step) gets one of
   ``n_labels`` mixing weights by minimising ``sum_i unary_i(z_i) + beta * sum_(i,j) (z_i - z_j)^2`` + the data
   smoothness (``gamma``) + the prior (``eta``) with alpha-beta swap graph cuts, on the official integer costs
   (``graphcut_multi``).
3. **Transport** (the saliency-discounted optimal transport): the blocks of each image move so that its salient
   blocks sit where the mask shows that image (the official iterative assignment ``mask_transport``).
4. **Label**: ``lam`` = mean of the final mask (weight of the unshuffled sample), per sample.

The graph cut runs on the host, like the official code's (a host sync per step). ``solver='swap'`` (default) is this
module's own alpha-beta swap, built to return exactly the labelling of GCO's ``swap`` (same start, label-pair order,
stopping rule and min-cut tie rule), with one max-flow per move for the whole batch (PyMaxflow if installed, else
SciPy; ``pip install openmix[puzzlemix]``); ``solver='gco'`` calls the official solver (``gco-wrapper``) per
sample.

The deviations from the official code are listed at the end of :class:`PuzzleMix`'s docstring.
"""
from __future__ import annotations

import math
import weakref
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from openmix.registry import MIXERS

from .base import BaseMixer, MixedBatch, keep_self_pairs

__all__ = ['PuzzleMix', 'puzzle_mix', 'input_gradient', 'block_saliency', 'graph_costs', 'alpha_beta_swap',
           'gco_swap', 'min_cut_sink_side', 'max_flow_backend', 'mask_transport', 'transport_blocks',
           'transport_cost_matrix', 'check_geometry']

_INSTALL_HINT = 'pip install openmix[puzzlemix]'
_INT32_MAX = 2 ** 31 - 1


def _require_scipy() -> None:
    try:
        from scipy.sparse import csr_array  # noqa: F401
        from scipy.sparse.csgraph import breadth_first_order, maximum_flow  # noqa: F401
    except ImportError as err:
        raise ImportError(f"PuzzleMix's graph-cut solver (`mixer.solver='swap'`) needs a max-flow package, PyMaxflow "
                          f"or SciPy >= 1.8: {_INSTALL_HINT}; or use `mixer.solver='gco'` with gco-wrapper "
                          f"installed") from err


def _require_gco():
    try:
        import gco
    except ImportError as err:
        raise ImportError("PuzzleMix `mixer.solver='gco'` needs the official solver: pip install gco-wrapper "
                          f"(module `gco`), or use the built-in `mixer.solver='swap'` ({_INSTALL_HINT})") from err
    return gco


# --------------------------------------------------------------------------------------------------------- saliency

def input_gradient(classifier: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Gradient of the mean cross-entropy of ``classifier`` on ``x`` w.r.t. ``x`` only, computed in eval mode.

    Follows the official ``main.py``, read from its code (``model.eval()``; ``CrossEntropyLoss`` on the clean batch with
    the integer labels, mean over the batch; ``backward``; ``model.train()``), except that ``torch.autograd.grad``
    differentiates w.r.t. the input alone, so no parameter's ``.grad`` is touched, and every module's training flag is
    restored exactly.

    Args:
        classifier: model whose ``classifier(x, mode='tensor')`` returns logits (``ImageClassifier``).
        x: ``(B, C, H, W)`` normalised images.
        labels: ``(B,)`` int64 class indices.

    Returns:
        ``(B, C, H, W)`` float gradient.
    """
    flags = [(m, m.training) for m in classifier.modules()]
    classifier.train(False)
    try:
        with torch.enable_grad():
            x_req = x.detach().requires_grad_(True)
            logits = classifier(x_req, mode='tensor')
            if isinstance(logits, (tuple, list)):
                logits = logits[0]
            loss = F.cross_entropy(logits.float(), labels)
            (grad,) = torch.autograd.grad(loss, x_req)
    finally:
        for module, flag in flags:
            module.training = flag
    return grad


def block_saliency(saliency: torch.Tensor, block_size: int) -> torch.Tensor:
    """``(B, n, n)`` saliency pooled over ``block_size`` blocks and normalised to sum 1 per image.

    An image whose input gradient is exactly zero (a saturated softmax, or underflow under fp16 autocast) gets uniform
    saliency; the official code divides 0 by 0 there.
    """
    pool = F.avg_pool2d(saliency.float(), block_size)
    b = pool.shape[0]
    total = pool.reshape(b, -1).sum(1).reshape(b, 1, 1)
    return torch.where(total > 0, pool / total, torch.full_like(pool, 1.0 / pool[0].numel()))


# ------------------------------------------------------------------------------------------------------- graph cut

def _neigh_penalty(top: torch.Tensor, bottom: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean absolute colour difference across each block border (official ``neigh_penalty``).

    ``top``/``bottom``: ``(B, C, P, P)`` images pooled by the neighbour size, ``k`` cells per block. Returns the
    vertical ``(B, n-1, n)`` and horizontal ``(B, n, n-1)`` borders with ``top`` above / left of ``bottom``.
    """
    pw_v = (top[:, :, :-1, :] - bottom[:, :, 1:, :])[:, :, k - 1::k, :]
    pw_h = (top[:, :, :, :-1] - bottom[:, :, :, 1:])[:, :, :, k - 1::k]
    return (F.avg_pool2d(pw_v.abs().mean(1), kernel_size=(1, k)),
            F.avg_pool2d(pw_h.abs().mean(1), kernel_size=(k, 1)))


def graph_costs(unary: torch.Tensor, pixels: torch.Tensor, index: torch.Tensor, lam: float, block_num: int,
                beta: float = 1.2, gamma: float = 0.5, eta: float = 0.2, neigh_size: int = 4,
                n_labels: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integer graph-cut costs of the official ``mixup_graph`` + ``graphcut_multi`` (the mask objective).

    Label ``l`` of a block gives the unshuffled image the weight ``1 - l / (n_labels - 1)``. The unary cost of ``l``
    is ``(1 - z) * u_partner + z * u_self + prior_l`` with ``z = l / (n_labels - 1)``: the saliency lost, plus
    ``eta / n^2`` times the negative log-probability of the label under a binomial with success probability ``lam``
    (for 3 labels ``-log lam^2``, ``-log 2 lam (1 - lam)``, ``-log (1 - lam)^2``, eps 1e-8). The data smoothness
    term (``gamma``) of the four source combinations of each border is folded into the unary costs and a symmetric
    edge weight following the official code, plus the label smoothness ``beta / n / 16``; everything is scaled by
    ``1000 n^2`` and truncated to integers in float32 arithmetic, following the official NumPy code (NumPy 1.x
    casting). Read from the code; the costs themselves are not tested against recorded official output.

    Args:
        unary: ``(B, n, n)`` normalised block saliency of the images (``block_saliency``).
        pixels: ``(B, C, H, W)`` images in [0, 1] (``x * std + mean``) for the data smoothness term.
        index: ``(B,)`` partner of each sample.
        lam: prior mixing ratio (official ``alpha``, drawn from Beta).
        block_num: grid side ``n``.
        beta, gamma, eta, neigh_size, n_labels: see ``PuzzleMix``.

    Returns:
        ``unary_cost`` ``(B, n, n, n_labels)``, vertical edge weights ``(B, n-1, n)`` and horizontal ``(B, n, n-1)``,
        int64 on ``unary.device``.
    """
    if n_labels not in (2, 3, 4):
        raise ValueError(f'PuzzleMix: `mixer.n_labels` must be 2, 3 or 4 (the official priors), got {n_labels}')
    width = pixels.shape[-1]
    block_size = width // block_num
    neigh = min(neigh_size, block_size)
    beta = beta / block_num / 16
    pool_self = F.avg_pool2d(pixels.float(), neigh)
    pool_partner = pool_self[index]
    u_self, u_partner = unary.clone(), unary[index].clone()
    k = block_size // neigh
    # [a][b]: the block above / left is from image a, the one below / right from image b (0 partner, 1 self)
    pairs = {(a, b): _neigh_penalty((pool_partner, pool_self)[a], (pool_partner, pool_self)[b], k)
             for a in (0, 1) for b in (0, 1)}
    v = {ab: beta * gamma * p[0] for ab, p in pairs.items()}
    h = {ab: beta * gamma * p[1] for ab, p in pairs.items()}
    # the official code's operations in its order (float32 rounding decides the integer costs)
    u_partner[:, :-1, :] += (v[1, 0] + v[1, 1]) / 2.
    u_self[:, :-1, :] += (v[0, 1] + v[0, 0]) / 2.
    u_partner[:, 1:, :] += (v[0, 1] + v[1, 1]) / 2.
    u_self[:, 1:, :] += (v[1, 0] + v[0, 0]) / 2.
    u_partner[:, :, :-1] += (h[1, 0] + h[1, 1]) / 2.
    u_self[:, :, :-1] += (h[0, 1] + h[0, 0]) / 2.
    u_partner[:, :, 1:] += (h[0, 1] + h[1, 1]) / 2.
    u_self[:, :, 1:] += (h[1, 0] + h[0, 0]) / 2.
    pw_v = (v[1, 0] + v[0, 1] - v[1, 1] - v[0, 0]) / 2
    pw_h = (h[1, 0] + h[0, 1] - h[1, 1] - h[0, 0]) / 2

    eps = 1e-8
    lam = np.float64(lam)
    binom = {2: [lam, 1 - lam], 3: [lam ** 2, 2 * lam * (1 - lam), (1 - lam) ** 2],
             4: [lam ** 3, 3 * lam ** 2 * (1 - lam), 3 * lam * (1 - lam) ** 2, (1 - lam) ** 3]}[n_labels]
    prior = eta * -np.log(np.array(binom) + eps) / block_num ** 2
    large_val = 1000 * block_num ** 2
    z = np.linspace(0, 1, n_labels)
    cost = torch.stack([u_partner * float(1 - z[i]) + u_self * float(z[i]) + float(prior[i])
                        for i in range(n_labels)], dim=-1)
    to_int = lambda t: (t * large_val).to(torch.int64)  # noqa: E731  (float32 product, truncation as astype)
    return to_int(cost), to_int(pw_v + beta), to_int(pw_h + beta)


def _smooth_table(n_labels: int) -> np.ndarray:
    """Integer label cost ``V(l, m)`` inside gco-wrapper: ``int(float32((l - m)^2 / (n - 1)^2) * 100)``."""
    d = np.arange(n_labels)
    table = ((d[:, None] - d[None]) ** 2 / (n_labels - 1) ** 2).astype(np.float32)  # official ``pairwise_cost``
    return (table * np.float32(100)).astype(np.int64)


def _sink_side_pymaxflow(num: int, tcap: np.ndarray, edge_u: np.ndarray, edge_v: np.ndarray,
                         edge_cap: np.ndarray) -> np.ndarray:
    import maxflow
    # doubles hold these integer sums exactly (< 2^53): the flow total may exceed int32 over a large batch
    graph = maxflow.GraphFloat(num, edge_u.size)
    nodes = graph.add_nodes(num)
    graph.add_edges(edge_u, edge_v, edge_cap.astype(np.float64), edge_cap.astype(np.float64))
    graph.add_grid_tedges(nodes, np.maximum(tcap, 0).astype(np.float64), np.maximum(-tcap, 0).astype(np.float64))
    graph.maxflow()
    return graph.get_grid_segments(nodes)  # Boykov-Kolmogorov, as GCO: free nodes are reported on the source side


def _sink_side_scipy(num: int, tcap: np.ndarray, edge_u: np.ndarray, edge_v: np.ndarray,
                     edge_cap: np.ndarray) -> np.ndarray:
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import breadth_first_order, maximum_flow
    source, sink = num, num + 1
    node = np.arange(num)
    pos, neg = tcap > 0, tcap < 0
    head = np.concatenate([np.full(int(pos.sum()), source), node[neg], edge_u, edge_v])
    tail = np.concatenate([node[pos], np.full(int(neg.sum()), sink), edge_v, edge_u])
    cap = np.concatenate([tcap[pos], -tcap[neg], edge_cap, edge_cap])
    if cap.size and cap.max() > _INT32_MAX:
        raise OverflowError(f'PuzzleMix: graph-cut capacity {cap.max()} exceeds int32 (SciPy max-flow)')
    graph = csr_array((cap.astype(np.int32), (head, tail)), shape=(num + 2, num + 2))
    residual = (graph - maximum_flow(graph, source, sink, method='dinic').flow).tocsr()
    residual.data = (residual.data > 0).astype(np.int8)
    residual.eliminate_zeros()
    reach = breadth_first_order(residual.T.tocsr(), sink, directed=True, return_predecessors=False)
    side = np.zeros(num + 2, dtype=bool)
    side[reach] = True
    return side[:num]


def max_flow_backend() -> str:
    """``'pymaxflow'`` (Boykov-Kolmogorov, the max-flow inside GCO; faster) if installed, else ``'scipy'`` (Dinic)."""
    try:
        import maxflow
        if hasattr(maxflow, 'GraphFloat'):  # PyMaxflow (another PyPI package is also called maxflow)
            return 'pymaxflow'
    except ImportError:
        pass
    _require_scipy()
    return 'scipy'


def min_cut_sink_side(tcap: np.ndarray, edge_u: np.ndarray, edge_v: np.ndarray, edge_cap: np.ndarray,
                      backend: str | None = None) -> np.ndarray:
    """Minimum s-t cut of a graph of ``tcap.size`` nodes; returns the nodes on the sink side.

    Node ``i`` has a terminal edge of capacity ``tcap[i]`` from the source if ``tcap[i] > 0`` or ``-tcap[i]`` to the
    sink if ``< 0``; edge ``k`` joins ``edge_u[k]`` and ``edge_v[k]`` with capacity ``edge_cap[k]`` both ways. Of all
    minimum cuts, the one with the smallest sink side: the nodes that can still reach the sink in the residual graph
    of a maximum flow (the same set for every maximum flow). This is the side Boykov-Kolmogorov's ``what_segment``
    reports, free nodes going to the source, as in GCO.
    """
    backend = backend or max_flow_backend()
    fn = {'pymaxflow': _sink_side_pymaxflow, 'scipy': _sink_side_scipy}[backend]
    return fn(tcap.size, tcap.astype(np.int64), edge_u, edge_v, edge_cap.astype(np.int64))


def alpha_beta_swap(unary_cost: np.ndarray, cost_v: np.ndarray, cost_h: np.ndarray,
                    backend: str | None = None) -> np.ndarray:
    """Alpha-beta swap on a batch of grid graphs, with the labelling GCO's ``swap`` returns.

    Minimises, per image, ``sum_i U[i, l_i] + sum_(i,j) w_ij V(l_i, l_j)`` with ``V(l, m) = (l - m)^2 / (L - 1)^2``,
    the energy of ``gco.cut_grid_graph(unary_cost, pairwise_cost, cost_v, cost_h, algorithm='swap')`` (Boykov et al.,
    "Fast Approximate Energy Minimization via Graph Cuts", TPAMI 2001). GCO's run is reproduced step by step: all
    sites start at label 0; a cycle visits the pairs ``(a, b)``, ``a < b``, in GCO's order (``a`` ascending, ``b``
    descending); a move gives each site labelled ``a`` or ``b`` the better of the two with the rest fixed (one exact
    min cut); cycles repeat while the energy strictly decreases. Among equally good moves GCO keeps ``a`` for every
    site not connected to the sink after the max-flow (:func:`min_cut_sink_side`). The energy is evaluated in int64
    with gco-wrapper's integer scaling (unary x 1e5, edge weight x 1000, ``V`` x 100, truncated) divided by their
    common factor.

    All images of the batch share one graph (one source and one sink), so each move is one max-flow call.

    Args:
        unary_cost: ``(B, h, w, L)`` non-negative integer unary costs.
        cost_v: ``(B, h-1, w)`` integer weights of the edges between ``(i, j)`` and ``(i+1, j)``.
        cost_h: ``(B, h, w-1)`` integer weights of the edges between ``(i, j)`` and ``(i, j+1)``.
        backend: max-flow backend, see :func:`max_flow_backend`.

    Returns:
        ``(B, h, w)`` int64 labels.
    """
    backend = backend or max_flow_backend()
    bsz, h, w, n_labels = unary_cost.shape
    table = _smooth_table(n_labels)
    factor = math.gcd(100, *(int(t) for t in table.ravel()))
    data = unary_cost.astype(np.int64) * (100 // factor)
    table //= factor
    weight_v, weight_h = cost_v.astype(np.int64), cost_h.astype(np.int64)
    ids = np.arange(bsz * h * w).reshape(bsz, h, w)
    # the two ends of every edge: (first, second, weight); vertical then horizontal
    edges = ((np.s_[:, :-1, :], np.s_[:, 1:, :], weight_v), (np.s_[:, :, :-1], np.s_[:, :, 1:], weight_h))

    def energy(labels: np.ndarray) -> np.ndarray:
        total = np.take_along_axis(data, labels[..., None], 3)[..., 0].sum((1, 2))
        for first, second, weight in edges:
            total += (weight * table[labels[first], labels[second]]).sum((1, 2))
        return total

    def move(labels: np.ndarray, a: int, b: int, run: np.ndarray) -> None:
        active = run[:, None, None] & ((labels == a) | (labels == b))
        if not active.any():
            return
        cost_a, cost_b = data[..., a].copy(), data[..., b].copy()
        edge_u, edge_v, edge_cap = [], [], []
        for first, second, weight in edges:
            act_1, act_2 = active[first], active[second]
            for here, there, sel in ((first, second, act_1 & ~act_2), (second, first, act_2 & ~act_1)):
                # an edge to a site outside the move is a unary term of the site inside it
                cost_a[here] += np.where(sel, weight * table[a, labels[there]], 0)
                cost_b[here] += np.where(sel, weight * table[b, labels[there]], 0)
            inner = act_1 & act_2 & (weight > 0)
            edge_u.append(ids[first][inner])
            edge_v.append(ids[second][inner])
            edge_cap.append(weight[inner] * table[a, b])
        # tcap > 0: taking b costs more (source edge, cut when the site goes to the sink side = b)
        tcap = np.where(active, cost_b - cost_a, 0).ravel()
        take_b = min_cut_sink_side(tcap, np.concatenate(edge_u), np.concatenate(edge_v), np.concatenate(edge_cap),
                                   backend).reshape(labels.shape)
        labels[active] = np.where(take_b, b, a)[active]

    labels = np.zeros((bsz, h, w), dtype=np.int64)
    pairs = [(a, b) for a in range(n_labels) for b in range(n_labels - 1, -1, -1) if a < b]
    current = energy(labels)
    previous = current + 1
    run = np.ones(bsz, dtype=bool)
    while True:
        run &= previous > current
        if not run.any():
            break
        previous = np.where(run, current, previous)
        for a, b in pairs:
            move(labels, a, b, run)
        current = np.where(run, energy(labels), current)
    return labels


def gco_swap(unary_cost: np.ndarray, cost_v: np.ndarray, cost_h: np.ndarray) -> np.ndarray:
    """The official solver: ``gco.cut_grid_graph(..., algorithm='swap')`` per image (gco-wrapper), same I/O as
    :func:`alpha_beta_swap`."""
    gco = _require_gco()
    bsz, h, w, n_labels = unary_cost.shape
    d = np.arange(n_labels)
    pairwise = ((d[:, None] - d[None]) ** 2 / (n_labels - 1) ** 2).astype(np.float32)
    return np.stack([gco.cut_grid_graph(unary_cost[i].astype(np.int32), pairwise, cost_v[i].astype(np.int32),
                                        cost_h[i].astype(np.int32), algorithm='swap').reshape(h, w)
                     for i in range(bsz)]).astype(np.int64)


# ------------------------------------------------------------------------------------------------------- transport

def transport_cost_matrix(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``(n^2, n^2)`` squared distance between the blocks of an ``n x n`` grid over ``(n - 1)^2`` (official
    ``cost_matrix``), blocks in row-major order."""
    pos = torch.arange(n * n, device=device)
    r, c = pos // n, pos % n
    dist = (r[:, None] - r[None]) ** 2 + (c[:, None] - c[None]) ** 2
    return dist.float() / float((n - 1) ** 2)


def mask_transport(mask: torch.Tensor, saliency: torch.Tensor, eps: float = 0.8) -> torch.Tensor:
    """Transport plan of the blocks of one image (official ``mask_transport``, the paper's transport algorithm).

    The cost of moving block ``i`` to position ``j`` is ``eps * C_ij - s_i * [mask_j > 0]``. For ``n`` rounds every
    block picks its cheapest position; of the blocks that picked the same position the cheapest wins, the others pay
    +1 for it. The last round's winners form the plan: a 0/1 matrix with at most one 1 per row and column (a block
    that wins nothing is dropped; a position nobody won stays empty, i.e. zero, as in the official code).

    Args:
        mask: ``(B, 1, n, n)`` weight of this image per block.
        saliency: ``(B, n, n)`` normalised block saliency of this image.
        eps: transport cost coefficient ``t_eps``.

    Returns:
        ``(B, n^2, n^2)`` float plan, ``plan[b, i, j] = 1`` if block ``i`` moves to position ``j``.
    """
    bsz, n = mask.shape[0], mask.shape[-1]
    cost_matrix = transport_cost_matrix(n, mask.device).unsqueeze(0)
    visible = (mask > 0).float()
    cost = eps * cost_matrix - saliency.reshape(-1, n * n, 1).float() * visible.reshape(-1, 1, n * n)
    plan_win = None
    for _ in range(n):
        row_best = cost.min(-1)[1]
        plan = torch.zeros_like(cost).scatter_(-1, row_best.unsqueeze(-1), 1)
        col_best = (plan * cost).min(-2)[1]
        plan_win = torch.zeros_like(cost).scatter_(-2, col_best.unsqueeze(-2), 1) * plan
        cost += (1 - plan_win) * plan
    return plan_win


def transport_blocks(img: torch.Tensor, plan: torch.Tensor, block_num: int) -> torch.Tensor:
    """Move the ``block_num x block_num`` blocks of ``img`` (``(B, C, H, W)``) by ``plan`` (``mask_transport``).

    Same result as the official ``transport_image`` (``plan^T @ blocks``; tested against its recorded output),
    computed as a gather: a position takes the
    block planned to it, or zeros if none.
    """
    bsz, ch, height, width = img.shape
    bh, bw = height // block_num, width // block_num
    nb = block_num * block_num
    blocks = img.reshape(bsz, ch, block_num, bh, block_num, bw).permute(0, 2, 4, 1, 3, 5).reshape(bsz, nb, -1)
    src = plan.argmax(1)  # (B, n^2): the block that lands on each position
    moved = blocks.gather(1, src.unsqueeze(-1).expand(-1, -1, blocks.shape[-1]))
    moved = moved * (plan.sum(1) > 0).unsqueeze(-1).to(moved.dtype)
    return moved.reshape(bsz, block_num, block_num, ch, bh, bw).permute(0, 3, 1, 4, 2, 5).reshape(img.shape)


# ----------------------------------------------------------------------------------------------------------- mixing

def check_geometry(height: int, width: int, block_num: int, neigh_size: int, t_size: int) -> None:
    """Raise a ``ValueError`` naming the config key if the official block arithmetic does not fit the images."""
    if height != width:
        raise ValueError(f'PuzzleMix needs square images (the official block arithmetic), got {height}x{width}')
    if width % block_num:
        raise ValueError(f'PuzzleMix: a {block_num}x{block_num} grid (`mixer.block_num`) does not divide {width} px '
                         f'images')
    block_size = width // block_num
    neigh = min(neigh_size, block_size)
    if block_size % neigh:
        raise ValueError(f'PuzzleMix: {block_size} px blocks ({block_num}x{block_num} grid on {width} px, '
                         f'`mixer.block_num`) are not a multiple of `mixer.neigh_size={neigh_size}`; drop that grid '
                         f'(OpenMixup uses grids up to 8x8 at 224 px) or choose a neigh_size dividing {block_size}')
    if 0 < t_size < block_size and block_size % t_size:
        raise ValueError(f'PuzzleMix: `mixer.t_size={t_size}` must divide the {block_size} px blocks of the '
                         f'{block_num}x{block_num} grid')


def puzzle_mix(x: torch.Tensor, saliency: torch.Tensor, index: torch.Tensor, lam: float, block_num: int, *,
               beta: float = 1.2, gamma: float = 0.5, eta: float = 0.2, neigh_size: int = 4, n_labels: int = 3,
               transport: bool = True, t_eps: float = 0.8, t_size: int = -1, mean: torch.Tensor | None = None,
               std: torch.Tensor | None = None, noise: torch.Tensor | None = None,
               adv_mask: tuple[bool, bool] = (False, False), solver: str = 'swap',
               backend: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """PuzzleMix of ``x`` with ``x[index]`` given the saliency (official ``mixup_graph``).

    Args:
        x: ``(B, C, H, W)`` normalised images.
        saliency: ``(B, H, W)`` pixel saliency of ``x`` (``sqrt(mean_c grad^2)``).
        index: ``(B,)`` partner of each sample.
        lam: prior mixing ratio (Beta draw).
        block_num: grid side of the graph cut.
        beta, gamma, eta, neigh_size, n_labels, transport, t_eps, t_size, solver: see ``PuzzleMix``.
        backend: max-flow backend of ``solver='swap'`` (:func:`max_flow_backend` if None).
        mean, std: ``(1, C, 1, 1)`` normalisation in [0, 1] units (``x * std + mean`` are the pixels); None: identity.
        noise: ``(B, C, H, W)`` adversarial noise in [0, 1] pixel units, added to ``x`` if ``adv_mask[0]`` and to the
            partner (``noise[index]``) if ``adv_mask[1]``, after the graph cut and before transport (official).

    Returns:
        The mixed images and the ``(B, 1, H, W)`` weight of ``x`` (the unshuffled sample) in them.
    """
    if t_size != -1 and t_size < 1:
        raise ValueError(f'PuzzleMix: `mixer.t_size` must be -1 (the graph-cut grid) or >= 1, got {t_size}')
    height, width = x.shape[-2:]
    check_geometry(height, width, block_num, neigh_size, t_size)
    block_size = width // block_num
    t_size = min(t_size, block_size)
    mean = torch.zeros((), device=x.device) if mean is None else mean
    std = torch.ones((), device=x.device) if std is None else std

    unary = block_saliency(saliency, block_size)
    costs = graph_costs(unary, x * std + mean, index, lam, block_num, beta, gamma, eta, neigh_size, n_labels)
    costs = [c.cpu().numpy() for c in costs]
    labels = alpha_beta_swap(*costs, backend=backend) if solver == 'swap' else gco_swap(*costs)
    mask = torch.from_numpy(1.0 - labels / (n_labels - 1)).to(x.device, torch.float32, non_blocking=True)
    mask = mask.unsqueeze(1)

    input1, input2 = x, x[index]
    if noise is not None and adv_mask[0]:
        input1 = ((input1 * std + mean + noise).clamp(0, 1) - mean) / std
    if noise is not None and adv_mask[1]:
        input2 = ((input2 * std + mean + noise[index]).clamp(0, 1) - mean) / std
    if transport:
        t_num, sal = block_num, unary
        if 0 < t_size < block_size:
            t_num = width // t_size
            mask = F.interpolate(mask, size=t_num)
            sal = block_saliency(saliency, t_size)
        input1 = transport_blocks(input1, mask_transport(mask, sal, t_eps), t_num)
        input2 = transport_blocks(input2, mask_transport(1 - mask, sal[index], t_eps), t_num)
    mask = F.interpolate(mask, size=width).to(x.dtype)
    return mask * input1 + (1 - mask) * input2, mask


@MIXERS.register_module()
class PuzzleMix(BaseMixer):
    """Saliency-guided graph-cut mixing with optimal transport of blocks (Kim et al., ICML 2020).

    Each training step: ``lam ~ Beta(alpha, alpha)``, a random permutation partner, and a grid side ``n`` drawn
    uniformly from ``block_num``; the saliency is the input gradient of the clean batch under the network in eval
    mode (one extra forward/backward; parameters' ``.grad`` and BN statistics are untouched); the ``n x n`` mask comes
    from the graph cut, the blocks of both images are transported, and the label weight is the mean of the final
    mask per sample (see :func:`puzzle_mix` and the module docstring). Batches are mixed with probability ``prob``.

    Defaults are the official ones (``main.py`` arguments and README commands; OpenMixup's ``puzzlemix`` args):

    Args:
        alpha: Beta concentration of lam (official README ``--mixup_alpha 1.0``; OpenMixup configs 1).
        block_num: Grid side of the graph cut, an int or a sequence to draw from uniformly per step. Official
            training code ``2 ** randint(1, 5)`` = ``(2, 4, 8, 16)``; OpenMixup ``block_num=5`` means the same and
            its ImageNet ``block_num=4`` means ``(2, 4, 8)`` (a 16x16 grid gives 14 px blocks at 224 px, not a
            multiple of ``neigh_size=4``, which the official code cannot handle either).
        beta: Label smoothness ``beta`` (1.2), used as ``beta / n / 16``.
        gamma: Data local smoothness ``gamma`` (0.5).
        eta: Prior term ``eta`` (0.2).
        neigh_size: Pixels pooled for the border colour differences (4).
        n_labels: Mixing weights per block, 2-4 (3: weights 1, 0.5, 0).
        transport: Transport the blocks (True).
        t_eps: Transport cost coefficient (0.8).
        t_size: Transport block size in pixels; -1 transports on the graph-cut grid (official default and ImageNet
            code; the CIFAR README commands and OpenMixup CIFAR configs use 4).
        adv_p: Probability of adding the adversarial noise to each of the two images (0; the README's adversarial
            runs use 0.1 on CIFAR-100 and 0.15 on Tiny-ImageNet).
        adv_eps: L-inf ball of the adversarial noise in 0-255 pixel units (10).
        clean_lam: The official clean-input loss weight; only 0 (the default) is supported: that term is a training
            loss on the clean batch, which the mixer contract cannot add.
        solver: ``'swap'`` (this module's alpha-beta swap, the same labelling as the official solver; needs PyMaxflow
            or SciPy: ``pip install openmix[puzzlemix]``) or ``'gco'`` (the official gco-wrapper, per sample).
        mean, std: Normalisation of the inputs in 0-255 units, to recover the pixels for the smoothness term and the
            adversarial noise; None reads them from the classifier's data preprocessor on ``attach``.
        prob, pairing, seed: See ``BaseMixer`` (``pairing='perm'``: the official random permutation).

    Example:
        >>> model = MODELS.build(dict(type='ImageClassifier', head=dict(type='LinearClsHead', num_classes=100),
        ...     backbone=dict(type='TimmBackbone', model_name='resnet18', cifar_stem=True),
        ...     mixer=dict(type='PuzzleMix', t_size=4)))

    Differences from the reference code:
        Reference: snu-mllab/PuzzleMix @e2dbf3a (``main.py``, ``mixup.py``). Tested against recorded reference
        output: the graph-cut labelling (``solver='swap'`` gives gco-wrapper's ``swap`` labellings,
        ``tests/mixers/test_puzzlemix.py``) and the transport (``mask_transport`` + ``transport_blocks`` equal the
        official ``mask_transport`` + ``transport_image`` bit for bit on 2-16 grids,
        ``tests/mixers/test_reference_resize_smooth.py``, fixture
        ``tests/fixtures/reference/puzzlemix_transport.npz``). The saliency, the integer costs and the whole mix
        are written from the official code but not compared with its recorded output. What differs:

        - ``clean_lam > 0`` (a clean-batch loss term; with it the official saliency pass runs in train mode) is
          refused: a mixer cannot add a loss. Never with the defaults (0) nor the CIFAR README commands; every step
          of the Tiny-ImageNet README commands (``--clean_lam 1``), which therefore cannot be reproduced. Flag:
          none; not reproducible.
        - The saliency backward differentiates w.r.t. the input only (the official code accumulates and then zeroes
          the parameter gradients) and restores every module's training flag (the official code calls
          ``model.train()``). Every step; no effect on the mix or the update. Flag: none needed.
        - An image with an all-zero input gradient gets uniform saliency (the official code divides 0 by 0).
          Only with a saturated or fp16-underflowing network; not observed with default settings. Flag: none; not
          reproducible.
        - Costs are float32 as the official code under NumPy 1.x (NumPy >= 2 promotes them to float64, changing
          about 1e-4 of the truncated integer costs there). gco-wrapper multiplies the int32 unary costs by 1e5 in
          int32, which wraps when a block's cost exceeds 21474, i.e. one block holding more than about 8 % (16x16
          grid) or 33 % (8x8) of an image's saliency; ``solver='swap'`` does not wrap. Frequency with default
          settings not measured (it depends on the trained network's saliency). Flag: ``solver='gco'`` (the
          official solver, wrap included).
        - Grid/image sizes the official arithmetic cannot handle (e.g. a 16x16 grid at 224 px) raise a
          ``ValueError`` naming the config key, where the official code crashes. Flag: none needed.
        - The official multiprocessing pool (``mp``) and OpenMixup's transport chunks (``t_batch_size``) have no
          counterpart (one graph per batch, transport as a gather); no effect on the result. Flag: none needed.
        - A sample the permutation pairs with itself (on average 1 per batch, in about 63 % of batches) gets
          ``lam = 1`` here, the mask mean in the official code; its two labels are the same class, so the loss is
          the same. Flag: none needed.
        - Random draws (lam, permutation, grid side, adversarial masks and noise) come from the mixer's own
          generator, not the global RNGs; same distributions, different sequences. Flag: none; not reproducible.
    """

    name = 'puzzlemix'
    guided = True
    supports_per_sample = False

    def __init__(self, alpha: float = 1.0, block_num: int | Sequence[int] = (2, 4, 8, 16), beta: float = 1.2,
                 gamma: float = 0.5, eta: float = 0.2, neigh_size: int = 4, n_labels: int = 3, transport: bool = True,
                 t_eps: float = 0.8, t_size: int = -1, adv_p: float = 0.0, adv_eps: float = 10.0,
                 clean_lam: float = 0.0, solver: str = 'swap', mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, prob: float = 1.0, pairing: str = 'perm',
                 seed: int | None = None) -> None:
        super().__init__(alpha=alpha, prob=prob, pairing=pairing, seed=seed)
        if solver not in ('swap', 'gco'):
            raise ValueError(f"PuzzleMix: `mixer.solver` must be 'swap' or 'gco', got {solver!r}")
        block_num = [block_num] if isinstance(block_num, int) else list(block_num)
        if not block_num or any(isinstance(n, bool) or not isinstance(n, int) or n < 2 for n in block_num):
            raise ValueError(f'PuzzleMix: `mixer.block_num` must be a grid side >= 2 or a sequence of them, '
                             f'got {block_num}')
        if n_labels not in (2, 3, 4):
            raise ValueError(f'PuzzleMix: `mixer.n_labels` must be 2, 3 or 4 (the official priors), got {n_labels}')
        if t_size != -1 and t_size < 1:
            raise ValueError(f'PuzzleMix: `mixer.t_size` must be -1 or >= 1, got {t_size}')
        if not 0.0 <= adv_p <= 1.0:
            raise ValueError(f'PuzzleMix: `mixer.adv_p` must be in [0, 1], got {adv_p}')
        if clean_lam != 0:
            raise ValueError('PuzzleMix: `mixer.clean_lam` > 0 (the official clean-input loss) is not supported: it '
                             'is a loss term on the clean batch, not input mixing; set it to 0')
        if (mean is None) != (std is None):
            raise ValueError('PuzzleMix: set both `mixer.mean` and `mixer.std` (0-255 units) or neither')
        if solver == 'gco':
            _require_gco()
        # the max-flow package of the built-in solver: ImportError with the install hint if there is none
        self.backend = max_flow_backend() if solver == 'swap' else None
        self.block_num = block_num
        self.beta, self.gamma, self.eta = float(beta), float(gamma), float(eta)
        self.neigh_size, self.n_labels = int(neigh_size), int(n_labels)
        self.transport, self.t_eps, self.t_size = bool(transport), float(t_eps), int(t_size)
        self.adv_p, self.adv_eps = float(adv_p), float(adv_eps)
        self.solver = solver
        self.mean = None if mean is None else [float(v) for v in mean]
        self.std = None if std is None else [float(v) for v in std]
        self.last_block_num: int | None = None  # grid side of the last mixed batch
        self._classifier_ref = None  # weakref.ref to the classifier: the mixer must not own (or cycle to) the model

    def attach(self, classifier: nn.Module) -> None:
        """Keep a weak reference to ``classifier``; read its data preprocessor's ``mean``/``std`` if not given."""
        self._classifier_ref = weakref.ref(classifier)
        if self.mean is None:
            pre = getattr(classifier, 'data_preprocessor', None)
            mean, std = getattr(pre, 'mean', None), getattr(pre, 'std', None)
            if not (torch.is_tensor(mean) and torch.is_tensor(std)):
                raise ValueError('PuzzleMix: the classifier has no data_preprocessor.mean/std; set `mixer.mean` and '
                                 '`mixer.std` (0-255 units)')
            self.mean, self.std = mean.flatten().tolist(), std.flatten().tolist()

    def _classifier(self) -> nn.Module:
        model = self._classifier_ref() if self._classifier_ref is not None else None
        if model is None:
            raise RuntimeError('PuzzleMix needs the network: call attach(classifier) first (ImageClassifier does it '
                               'when built with model.mixer=dict(type="PuzzleMix"))')
        return model

    def pixel_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(1, C, 1, 1)`` mean and std in [0, 1] units on ``x.device`` (``x * std + mean`` are the pixels)."""
        mean = torch.tensor(self.mean, device=x.device, dtype=torch.float32).view(1, -1, 1, 1) / 255.0
        std = torch.tensor(self.std, device=x.device, dtype=torch.float32).view(1, -1, 1, 1) / 255.0
        return mean, std

    @staticmethod
    def _labels(targets: torch.Tensor) -> torch.Tensor:
        """Class indices of ``(B,)`` labels or ``(B, K)`` (smoothed) one-hot targets."""
        return targets if targets.dim() == 1 else targets.argmax(1)

    @staticmethod
    def _grad_saliency(grad: torch.Tensor) -> torch.Tensor:
        """``(B, H, W)`` ``sqrt(mean_c grad^2)`` of an input gradient (official ``main.py``)."""
        return grad.pow(2).mean(1).sqrt()

    def saliency(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``(B, H, W)`` saliency of the clean batch (see :func:`input_gradient`)."""
        return self._grad_saliency(input_gradient(self._classifier(), x, self._labels(targets)))

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> MixedBatch:
        """Mix a batch. ``targets``: ``(B, K)`` (smoothed) one-hot or ``(B,)`` labels; the saliency loss uses their
        class index, like the official cross-entropy on integer labels."""
        if targets is None:
            raise ValueError('PuzzleMix needs the targets for its saliency: call mixer(inputs, targets)')
        if not self.enabled or self.rng.random() >= self.prob:
            self.last_block_num = None
            return self.unmixed(x)
        classifier = self._classifier()
        bsz = x.shape[0]
        block_num = self.block_num[int(self.rng.integers(len(self.block_num)))]
        index = self.partner_index(bsz, x.device)
        lam = float(self.sample_lam(self.rng, 1)[0])
        adv_mask = (False, False)
        if self.adv_p > 0:
            adv_mask = (bool(self.rng.random() < self.adv_p), bool(self.rng.random() < self.adv_p))
        labels = self._labels(targets)
        mean, std = self.pixel_stats(x)

        noise, x_sal = None, x
        if any(adv_mask):  # official main.py: random start in the eps-ball, saliency on the noisy images, FGSM step
            eps = self.adv_eps / 255.0
            gen = torch.Generator(device=x.device)
            gen.manual_seed(int(self.rng.integers(2 ** 63 - 1)))
            coef = float(self.rng.random())
            pixels = x * std + mean
            noise = torch.empty_like(x).uniform_(-eps, eps, generator=gen)
            noisy = (pixels + noise).clamp(0, 1)
            noise = noisy - pixels
            x_sal = (noisy - mean) / std
        grad = input_gradient(classifier, x_sal, labels)
        if noise is not None:
            noise = (noise + (self.adv_eps + 2) / 255.0 * grad.sign()).clamp(-eps, eps) * coef

        mixed, mask = puzzle_mix(x, self._grad_saliency(grad), index, lam, block_num, beta=self.beta,
                                 gamma=self.gamma, eta=self.eta, neigh_size=self.neigh_size, n_labels=self.n_labels,
                                 transport=self.transport, t_eps=self.t_eps, t_size=self.t_size, mean=mean, std=std,
                                 noise=noise, adv_mask=adv_mask, solver=self.solver, backend=self.backend)
        self.last_block_num = block_num
        lam_t = keep_self_pairs(mask.flatten(1).float().mean(1), index)
        return MixedBatch(mixed, index, lam_t, self.name, mask=1 - mask,
                          is_box=torch.zeros(bsz, dtype=torch.bool, device=x.device))

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, block_num={self.block_num}, beta={self.beta}, gamma={self.gamma}, '
                f'eta={self.eta}, neigh_size={self.neigh_size}, n_labels={self.n_labels}, '
                f'transport={self.transport}, t_eps={self.t_eps}, t_size={self.t_size}, adv_p={self.adv_p}, '
                f'solver={self.solver!r}')
