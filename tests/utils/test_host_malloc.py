"""glibc malloc settings of a training process (``openmix.utils.host_malloc``), each measured in a fresh process: page
faults of a repeated 64 MiB allocation, the resident size around a fork, the environment taking precedence, and the
errors of a malformed setting."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from openmix.utils.host_malloc import DEFAULT_HOST_MALLOC, configure_host_malloc

ROOT = Path(__file__).resolve().parents[2]
glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='glibc malloc only')

# A step's worth of activations: a 64 MiB tensor allocated, written and freed 10 times. glibc serves it with mmap
# (its dynamic threshold tops out at 32 MiB), so each round faults its 16384 pages in again, unless the settings
# keep it on the heap.
FAULTS = """
import json, resource, sys
import torch
from openmix.utils.host_malloc import configure_host_malloc
line = configure_host_malloc(json.loads(sys.argv[1]))
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds = []
for _ in range(24):
    before = faults()
    torch.empty(16 << 20).fill_(1.0)
    rounds.append(faults() - before)
print(json.dumps(dict(line=line, faults=rounds)))
"""

# 256 MiB freed on the heap stay resident (trim threshold 1 GiB) until a fork, which returns them first.
FORK = """
import json, os
import torch
from openmix.utils.host_malloc import DEFAULT_HOST_MALLOC, configure_host_malloc
configure_host_malloc(DEFAULT_HOST_MALLOC)
def rss_mib():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20
keep = [torch.ones(1 << 20) for _ in range(64)]  # 64 x 4 MiB on the heap
del keep
held = rss_mib()
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print(json.dumps(dict(held=held, after_fork=rss_mib())))
"""


def run(code: str, *args: str, env: dict | None = None) -> dict:
    # the caller's own malloc knobs would make the settings stand down: only the ones a test passes are kept
    base = {k: v for k, v in os.environ.items() if not k.startswith('MALLOC_') and k != 'GLIBC_TUNABLES'}
    env = {**base, 'PYTHONPATH': str(ROOT), **(env or {})}
    out = subprocess.run([sys.executable, '-c', code, *args], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@glibc_only
def test_fixed_thresholds_stop_refaulting_a_freed_block():
    glibc = run(FAULTS, 'null')
    fixed = run(FAULTS, json.dumps(DEFAULT_HOST_MALLOC))
    assert "glibc's own thresholds" in glibc['line']
    assert 'mmap_threshold 1024 MiB' in fixed['line'] and 'before each fork' in fixed['line']
    # glibc's heuristics: every round maps the block afresh and faults its 16384 pages in again
    assert min(glibc['faults']) > 16384 * 0.9, glibc
    # fixed thresholds: the block is reused from the heap once the first rounds have grown it (64-byte-aligned
    # blocks take a few rounds to settle), so most rounds take no fault at all
    assert sorted(fixed['faults'])[len(fixed['faults']) // 2] < 100, fixed
    assert sum(f < 100 for f in fixed['faults'][-12:]) >= 10, fixed


@glibc_only
def test_free_heap_is_returned_before_a_fork():
    rss = run(FORK)
    assert rss['held'] - rss['after_fork'] > 200, rss  # ~256 MiB of free heap given back by malloc_trim


@glibc_only
@pytest.mark.parametrize('env', [dict(MALLOC_ARENA_MAX='2'), dict(GLIBC_TUNABLES='glibc.malloc.trim_threshold=1')])
def test_the_environment_keeps_its_own_settings(env):
    out = run(FAULTS, json.dumps(DEFAULT_HOST_MALLOC), env=env)
    assert out['line'].startswith('host malloc: left to the environment'), out
    assert next(iter(env)) in out['line']


def test_malformed_settings_name_the_key():
    with pytest.raises(KeyError, match=r'env_cfg\.host_malloc\.trim_treshold.*Did you mean: trim_threshold'):
        configure_host_malloc(dict(trim_treshold=1 << 20))
    with pytest.raises(ValueError, match=r'env_cfg\.host_malloc\.top_pad.*int in \[0, 2\*\*31\), got 4294967296'):
        configure_host_malloc(dict(top_pad=1 << 32))
    with pytest.raises(ValueError, match=r"got '64M'"):
        configure_host_malloc(dict(mmap_threshold='64M'))
    with pytest.raises(TypeError, match=r'env_cfg\.host_malloc.*or None, got int'):
        configure_host_malloc(1)
    assert configure_host_malloc(None) == "host malloc: glibc's own thresholds (env_cfg.host_malloc=None)"


def test_config_key_is_checked_and_logged(tmp_path):
    """`env_cfg.host_malloc` is a known key of the env_cfg section and the runner logs what was set."""
    from openmix.apis.config import check_config_args
    from mmengine.config import Config
    cfg = Config(dict(env_cfg=dict(host_malloc=None, cudnn_benchmark=False)))
    check_config_args(cfg)
    cfg = Config(dict(env_cfg=dict(host_maloc=None)))
    with pytest.raises(Exception, match='host_malloc'):
        check_config_args(cfg)
