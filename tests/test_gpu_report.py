"""benchmarks/gpu_report.py at --tiny sizes on the CPU: every section measured (or saying why not), both files written."""
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'benchmarks'))

import gpu_report  # noqa: E402
import mix_ops  # noqa: E402


def _report(out: Path, *extra: str) -> dict:
    proc = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'gpu_report.py'), '--tiny', '--device', 'cpu',
                           '--out', str(out), *extra], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ['gpu_report.json', 'gpu_report.md']  # no temporary left
    return json.loads((out / 'gpu_report.json').read_text())


def _number(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def test_tiny_report_has_every_section(tmp_path):
    report = _report(tmp_path)
    assert report['env']['torch'] and report['env']['timm'] and report['env']['dtype'] == 'fp32'
    assert _number(report['peak']['tflops']) and 'matmul' in report['peak']['source']
    secs = report['sections']
    assert list(secs) == gpu_report.SECTIONS
    assert all(s['status'] == 'ok' for s in secs.values()), {k: s['status'] for k, s in secs.items()}

    step = {r['name']: r for r in secs['model_step']['rows']}
    assert set(step) == {'deit_s_baseline', 'deit_s_transmix', 'timm_loop'}
    for r in step.values():
        assert _number(r['images_per_s']) and _number(r['mfu']) and r['min_ms'] <= r['median_ms'] <= r['max_ms']
    assert _number(step['deit_s_transmix']['speed_vs_timm']) and _number(secs['model_step']['gflops_per_step'])

    mix = {r['name']: r for r in secs['mixers']['rows']}
    assert set(mix_ops.OURS) | {'mixup_elem', 'cutmix_elem', 'clone'} == set(mix)
    for name in (*mix_ops.TIMM, 'mixup_elem', 'cutmix_elem'):
        assert _number(mix[name]['ratio_to_timm']) and _number(mix[name]['timm_median_ms'])
    assert all(_number(r['median_ms']) for r in mix.values())

    ratios = secs['step_ratios']
    assert {r['name'] for r in ratios['rows']} == {'cutmix', 'transmix', 'automix'}
    assert _number(ratios['transmix_over_cutmix']) and _number(ratios['automix_over_cutmix'])

    e2e = {r['name']: r for r in secs['train_e2e']['rows']}
    assert {'synthetic', 'jpeg_folder_1w', *gpu_report.OPTIONAL_PATHS} == set(e2e)
    for name, r in e2e.items():
        if name in gpu_report.OPTIONAL_PATHS and r['status'] != 'ok':
            assert r['status'].startswith('not available'), r
            continue
        assert r['status'] == 'ok' and _number(r['images_per_s']) and r['iters'] >= 4, r
    assert _number(e2e['jpeg_folder_1w']['vs_synthetic'])

    (run,) = secs['torchrun']['rows']
    assert secs['torchrun']['ran'] and run['backend'] == 'gloo' and _number(run['images_per_s'])

    md = (tmp_path / 'gpu_report.md').read_text()
    for name in gpu_report.SECTIONS:
        assert f'## {name}' in md
    assert '| name | batch | img_size | min_ms | median_ms | max_ms | images_per_s | mfu | speed_vs_timm |' in md
    assert 'MFU peak:' in md and 'torch 2.' in md


def test_budget_skips_sections(tmp_path):
    report = _report(tmp_path, '--sections', 'torchrun', '--budget-s', '1')
    assert list(report['sections']) == ['torchrun']
    assert report['sections']['torchrun']['status'].startswith('skipped: ')
    assert 'skipped' in (tmp_path / 'gpu_report.md').read_text()
