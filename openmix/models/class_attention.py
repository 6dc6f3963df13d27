"""Class-token attention of a stock timm model's last attention layer, captured by hooks with fused attention on.

TransMix (Chen et al., CVPR 2022, Sec. 3.2) needs ``A = mean_heads(softmax(q_cls k^T / sqrt(d)))`` restricted to
the patch tokens, from the last block, post-softmax and pre-dropout, detached. Fused attention (SDPA) never
materialises the attention matrix, so instead of switching it off (an N^2 matrix per head and a slower kernel), the
probe hooks the layer's projections, keeps the class query and the keys they produced anyway, and computes only the
class row: ``O(N d)`` extra work. Supported (build-time check, everything else fails naming the model):

* ViT/DeiT and relatives built on timm's ``VisionTransformer`` (distilled and register-token variants: all prefix
  tokens are dropped from the row; ``q_norm``/``k_norm`` applied as the layer does): ``blocks[-1].attn.qkv``.
* CaiT (``blocks_token_only[-1].attn``) and XCiT (``cls_attn_blocks[-1].attn``): their class-attention layers, whose
  keys cover ``[cls, patches]``.
* Models without a class token (PVT-v2, Swin) are refused: their pooled feature is an average, there is no class
  query to read. (PVT-v1 in the paper had one; timm's ``pvt_v2_*`` do not.)
* Models with a class token whose head does not read it (``global_pool`` other than ``'token'``: ``'avg'``,
  ``'max'``, ``'map'``, ...) are refused too: TransMix's premise is that the class token's attention is what the
  classifier sees, and a mean-pooled output is not built from that row.
"""
from __future__ import annotations

import torch
from torch import nn


class ClassAttentionProbe:
    """Hooks on a timm model that leave ``self.attn`` = ``(B, N_patches)`` class attention after each forward.

    Computed only while ``active`` is True (the label assigner turns it on for batches that need it).

    Args:
        model: The timm model (``TimmBackbone.model``).
        name: The model name, for error messages.
    """

    def __init__(self, model: nn.Module, name: str = '') -> None:
        self.model_name = name or type(model).__name__
        self.active = False
        self.attn: torch.Tensor | None = None
        self._k: torch.Tensor | None = None
        self._q: torch.Tensor | None = None
        self.handles = []
        if hasattr(model, 'blocks_token_only') and len(model.blocks_token_only):  # CaiT
            self._check_pool(model)
            self._attach_class_attn(model.blocks_token_only[-1].attn)
            self.num_prefix = 1
        elif hasattr(model, 'cls_attn_blocks') and len(model.cls_attn_blocks):  # XCiT
            self._check_pool(model)
            self._attach_class_attn(model.cls_attn_blocks[-1].attn)
            self.num_prefix = 1
        elif hasattr(model, 'blocks') and hasattr(model, 'cls_token') and getattr(model, 'has_class_token', True) \
                and model.cls_token is not None and hasattr(model.blocks[-1], 'attn') \
                and isinstance(getattr(model.blocks[-1].attn, 'qkv', None), nn.Linear):
            self._check_pool(model)
            self._attach_vit(model.blocks[-1].attn)
            self.num_prefix = int(getattr(model, 'num_prefix_tokens', 1))
        else:
            raise ValueError(
                f'TransMix needs the class-token attention of the last block, and {self.model_name!r} has no class '
                'token read by a supported attention layer (supported: timm VisionTransformer/DeiT incl. distilled and '
                'register variants, CaiT, XCiT). Mean-pooled models such as PVT-v2 and Swin cannot be served; use '
                "area labels (label_assigner=dict(type='AreaLabel')).")

    def _check_pool(self, model: nn.Module) -> None:
        pool = getattr(model, 'global_pool', 'token')
        if pool != 'token':
            raise ValueError(
                f"TransMix: {self.model_name!r} has global_pool={pool!r}, so its head does not read the class token "
                "whose attention TransMix uses; set backbone.global_pool='token' (the class-token default) or use area "
                "labels (label_assigner=dict(type='AreaLabel')).")

    # --- ViT: one qkv projection -------------------------------------------------------------------------------
    def _attach_vit(self, attn: nn.Module) -> None:
        self._layer = attn

        def on_qkv(module, inputs, output):
            if not self.active:
                return
            with torch.no_grad():
                b, n, _ = output.shape
                qkv = output.detach().reshape(b, n, 3, attn.num_heads, -1)
                q = qkv[:, :1, 0].transpose(1, 2)  # (B, h, 1, d): the class query only
                k = qkv[:, :, 1].transpose(1, 2)  # (B, h, N, d)
                q, k = attn.q_norm(q), attn.k_norm(k)
                self._finish(q, k, attn.scale)

        self.handles.append(attn.qkv.register_forward_hook(on_qkv))

    # --- CaiT / XCiT class attention: separate q (class token only) and k projections ----------------------------
    def _attach_class_attn(self, attn: nn.Module) -> None:
        self._layer = attn

        def on_q(module, inputs, output):
            if self.active:
                self._q = output.detach()  # (B, C): q(x[:, 0])

        def on_k(module, inputs, output):
            if not self.active:
                return
            with torch.no_grad():
                b, n, c = output.shape
                h = attn.num_heads
                k = output.detach().reshape(b, n, h, c // h).transpose(1, 2)
                q = self._q.reshape(b, h, 1, c // h)
                self._q = None
                self._finish(q, k, attn.scale)

        self.handles.append(attn.q.register_forward_hook(on_q))
        self.handles.append(attn.k.register_forward_hook(on_k))

    def _finish(self, q: torch.Tensor, k: torch.Tensor, scale: float) -> None:
        logits = (q.float() * scale) @ k.float().transpose(-2, -1)  # (B, h, 1, N), fp32 softmax
        self.attn = logits.softmax(-1)[:, :, 0, self.num_prefix:].mean(1)

    def pop(self) -> torch.Tensor:
        """The attention of the last forward (and forget it); raises if none was captured."""
        if self.attn is None:
            raise RuntimeError(f'no class attention was captured for {self.model_name!r}: was the probe active '
                               'during the forward pass?')
        attn, self.attn = self.attn, None
        return attn

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []
