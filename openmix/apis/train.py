"""Build the config and the runner for ``tools/train.py`` / ``tools/test.py``."""
from __future__ import annotations

import os.path as osp
from argparse import Namespace

from mmengine.config import Config
from mmengine.hooks import CheckpointHook

from openmix.apis.config import RunConfig, apply_cfg_options, check_config_types, parse_cfg_options
from openmix.utils.host_malloc import DEFAULT_HOST_MALLOC, configure_host_malloc
from openmix.utils.setup_env import init_distributed, register_all_modules

__all__ = ['load_config', 'build_runner', 'output_summary', 'exit_status']


def load_config(args: Namespace) -> Config:
    """Config file + command-line overrides (``work_dir``, resume, AMP, seed, determinism, ``--cfg-options``)."""
    register_all_modules()
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    cfg = RunConfig.of(Config.fromfile(args.config))  # pretty_text formatted once, not at every checkpoint
    apply_cfg_options(cfg, parse_cfg_options(getattr(args, 'cfg_options', None)))
    cfg.launcher = getattr(args, 'launcher', 'none')
    if getattr(args, 'work_dir', None):
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    resume = getattr(args, 'resume', None)
    if resume is not None:
        cfg.resume = True
        cfg.load_from = None if resume == 'auto' else resume
        if resume == 'auto':  # the newest intact checkpoint, not only what `last_checkpoint` says (it may be missing)
            from openmix.utils.resume import pick_resume_checkpoint
            cfg.load_from = pick_resume_checkpoint(cfg.work_dir)
            cfg.resume = cfg.load_from is not None
    amp = getattr(args, 'amp', None)
    if amp:
        optim = cfg.optim_wrapper
        optim.type = {'OptimWrapper': 'AmpOptimWrapper', 'GuardedOptimWrapper': 'GuardedAmpOptimWrapper'}.get(
            optim.get('type', 'OptimWrapper'), optim.get('type'))
        optim.dtype = {'bf16': 'bfloat16', 'fp16': 'float16'}[amp]
        if amp == 'bf16':
            optim.pop('loss_scale', None)
    if getattr(args, 'compile', None):  # --compile [MODE]: torch.compile of model.backbone (build_runner applies it)
        cfg.compile_backbone = args.compile
    randomness = dict(cfg.get('randomness') or {})
    if getattr(args, 'seed', None) is not None:
        randomness['seed'] = args.seed
    if getattr(args, 'deterministic', False):
        randomness['deterministic'] = True
    cfg.randomness = randomness
    add_required_hooks(cfg)
    use_preemptible_loop(cfg)
    check_config_types(cfg)
    return cfg


#: Hooks every openmix run needs whatever the config says: exact resume, the skipped-image report, and the host-side
#: check of the non-finite guard and of the weights' finiteness at log intervals.
REQUIRED_HOOKS = ('RandomStateHook', 'SkippedImagesHook', 'NonFiniteCheckHook')


def add_required_hooks(cfg: Config) -> None:
    """Append the :data:`REQUIRED_HOOKS` missing from ``cfg.custom_hooks``."""
    hooks = list(cfg.get('custom_hooks') or [])
    present = {h.get('type') for h in hooks if isinstance(h, dict)}
    hooks += [dict(type=t) for t in REQUIRED_HOOKS if t not in present]
    cfg.custom_hooks = hooks


def use_preemptible_loop(cfg: Config) -> None:
    """Run epoch-based training in ``PreemptibleTrainLoop`` and add its ``PreemptionHook``.

    SIGTERM/SIGUSR1 then write ``epoch_{E}_iter_{I}.pth`` and exit with ``PREEMPTED_EXIT_CODE`` (75), and
    ``--resume`` continues inside the epoch. Iteration-based and custom loops are left as configured.
    """
    train_cfg = cfg.get('train_cfg')
    if not train_cfg:
        return
    loop = train_cfg.get('type', 'EpochBasedTrainLoop' if train_cfg.get('by_epoch', True) else None)
    if loop not in ('EpochBasedTrainLoop', 'PreemptibleTrainLoop'):
        return
    train_cfg.pop('by_epoch', None)  # mmengine refuses `type` together with `by_epoch`
    train_cfg['type'] = 'PreemptibleTrainLoop'
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(isinstance(h, dict) and h.get('type') == 'PreemptionHook' for h in hooks):
        cfg.custom_hooks = hooks + [dict(type='PreemptionHook')]


def build_runner(cfg: Config):
    """mmengine ``Runner`` from the config, after starting the process group (gloo on CPU)."""
    from mmengine.runner import Runner
    register_all_modules()
    # before the model, the data and the workers exist: fixed glibc thresholds, so a step's activations are not
    # faulted in afresh every step (openmix.utils.host_malloc)
    env_cfg = cfg.get('env_cfg') or {}
    malloc_line = configure_host_malloc(env_cfg.get('host_malloc', DEFAULT_HOST_MALLOC))
    init_distributed(cfg.get('launcher', 'none'), cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else None
    if runner is None:
        from mmengine.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    from openmix.datasets.device_loader import install_device_resident
    from openmix.datasets.prefetch import install_prefetch
    from openmix.engine.step_hygiene import apply_channels_last, compile_backbone
    install_prefetch(runner)  # train_dataloader.prefetch (default: on CUDA); takes its key before the device path
    install_device_resident(runner)  # train_dataloader.device_resident=True: data and augmentation on the device
    apply_channels_last(runner.model)  # data_preprocessor.channels_last (default: CNN backbones on CUDA)
    compile_backbone(runner.model, cfg.get('compile_backbone'))  # --compile / compile_backbone
    runner.logger.info(malloc_line)
    return runner


def output_summary(runner) -> str:
    """Where a finished run left its checkpoint, logs and TensorBoard files."""
    work_dir = runner.work_dir
    last = osp.join(work_dir, 'last_checkpoint')
    ckpt = open(last).read().strip() if osp.exists(last) else ''
    lines = [f'checkpoint:  {ckpt if ckpt and osp.isfile(ckpt) else "(none on disk)"}']
    # only files that exist: a run resumed after a kill may remember a best file that is gone
    for hook in (h for h in runner.hooks if isinstance(h, CheckpointHook)):
        paths = [getattr(hook, 'best_ckpt_path', None), *(getattr(hook, 'best_ckpt_path_dict', None) or {}).values()]
        lines += [f'best:        {p}' for p in paths if p and osp.isfile(str(p))]
    lines += [f'logs:        {runner.log_dir}  (metrics per epoch: {osp.join(runner.log_dir, "vis_data", "scalars.json")})',
              f'tensorboard: tensorboard --logdir {osp.join(runner.log_dir, "vis_data")}']
    return '\n'.join(lines)


def exit_status(code: int, runner=None) -> int:
    """The process's exit status (``tools/train.py``, ``tools/test.py``). A multi-process run leaves here with
    ``os._exit`` once it has finished (or stopped on preemption with its checkpoint written), after flushing its logs
    and closing its visualizer: left to interpreter shutdown, a rank whose peers (the TCPStore host among them) have
    already gone can abort in a C++ destructor (``terminate called without an active exception``, exit -6 instead of
    0 or 75; seen in CI after finished and after preempted torchrun runs, with or without ``destroy_process_group``).
    Single-process runs return normally."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return code
    import logging
    import os
    import sys
    try:
        if runner is not None:
            runner.visualizer.close()  # TensorBoard events (a preempted run skips the after_run hooks)
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
