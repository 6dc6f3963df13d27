# Runtime shared by every config: hooks, logging (JSON + TensorBoard), checkpoints, randomness, environment.
default_scope = 'openmix'

default_hooks = dict(
    # mmengine's RuntimeInfoHook, reading the step's log variables on the host once per log interval, not each step
    runtime_info=dict(type='DeferredRuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # best checkpoint by top-1 of the raw model; `last_checkpoint` always points at the newest one. SafeCheckpointHook:
    # mmengine's, but the new best is written before the old one is removed and the pointer is written atomically
    checkpoint=dict(type='SafeCheckpointHook', interval=1, max_keep_ckpts=2, save_last=True,
                    save_best='accuracy/top1', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
# Every run also gets RandomStateHook (RNG states of torch, numpy, random, mixers and random erasing travel in
# checkpoints, so a resume is exact) and SkippedImagesHook, added by openmix.apis.load_config; custom_hooks itself
# is left to the schedules (EMA) and the top-level configs.

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),  # gloo is used automatically on CPU
    # glibc malloc: blocks under 1 GiB reused from the heap, 1 GiB of free heap kept, the heap returned before each
    # fork of DataLoader workers (openmix.utils.host_malloc); None keeps glibc's heuristics
    host_malloc=dict(mmap_threshold=1 << 30, trim_threshold=1 << 30, top_pad=64 << 20),
)
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
# mmengine's Visualizer, building its matplotlib figure on the first image drawn, not at start-up
visualizer = dict(type='LazyFigureVisualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=True, window_size=20)
log_level = 'INFO'

load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
