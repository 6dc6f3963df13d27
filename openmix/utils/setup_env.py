"""Process setup: registries, default scope, safe checkpoint loading, CPU-capable distributed init."""
from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as torch_dist

_DONE = False


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every openmix module that registers something and set mmengine's default scope to ``openmix``."""
    global _DONE
    if not _DONE:
        import openmix.datasets  # noqa: F401
        import openmix.datasets.transforms  # noqa: F401
        import openmix.engine  # noqa: F401
        import openmix.evaluation  # noqa: F401
        import openmix.mixers  # noqa: F401
        import openmix.models  # noqa: F401
        import openmix.token_labeling  # noqa: F401
        from openmix.utils.checkpoint import (allow_mmengine_checkpoint_globals, register_atomic_local_backend,
                                              register_checkpoint_loader)
        allow_mmengine_checkpoint_globals()
        register_atomic_local_backend()
        register_checkpoint_loader()
        _DONE = True
    if init_default_scope:
        from mmengine.registry import DefaultScope
        if DefaultScope.get_current_instance() is None or DefaultScope.get_current_instance().scope_name != 'openmix':
            DefaultScope.get_instance(f'openmix-{datetime.datetime.now():%Y%m%d-%H%M%S-%f}', scope_name='openmix')


def init_distributed(launcher: str, cfg) -> None:
    """Start the process group before mmengine's Runner does, so CPU runs work too.

    mmengine's ``pytorch`` launcher assumes CUDA (``torch.cuda.set_device``, NCCL, DDP ``device_ids``). Here the
    backend is NCCL when CUDA is available and gloo otherwise; on CPU, DDP is built with ``device_ids=None``.
    """
    if launcher == 'none' or torch_dist.is_initialized():
        return
    if launcher == 'slurm':
        proc_id = int(os.environ['SLURM_PROCID'])
        ntasks = int(os.environ['SLURM_NTASKS'])
        os.environ.setdefault('RANK', str(proc_id))
        os.environ.setdefault('WORLD_SIZE', str(ntasks))
        os.environ.setdefault('LOCAL_RANK', str(proc_id % max(torch.cuda.device_count(), 1)))
        if 'MASTER_ADDR' not in os.environ:
            import subprocess
            nodes = os.environ['SLURM_NODELIST']
            os.environ['MASTER_ADDR'] = subprocess.getoutput(f'scontrol show hostname {nodes} | head -n1')
        os.environ.setdefault('MASTER_PORT', '29500')
    elif launcher != 'pytorch':
        raise ValueError(f"--launcher must be 'none', 'pytorch' or 'slurm', got {launcher!r}")
    cuda = torch.cuda.is_available()
    backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend', 'nccl') if cuda else 'gloo'
    if cuda:
        torch.cuda.set_device(int(os.environ['LOCAL_RANK']))
    timeout = datetime.timedelta(seconds=cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout', 1800))
    torch_dist.init_process_group(backend=backend, timeout=timeout)
    if not cuda:
        wrapper = dict(cfg.get('model_wrapper_cfg') or {})
        wrapper.setdefault('type', 'MMDistributedDataParallel')
        wrapper['device_ids'] = None
        wrapper.setdefault('broadcast_buffers', False)
        wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
        cfg.model_wrapper_cfg = wrapper
