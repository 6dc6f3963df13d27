"""LazyFigureVisualizer: a run that only logs scalars never imports matplotlib; the first drawing builds mmengine's
figure and draws as mmengine's Visualizer does."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from mmengine.visualization import Visualizer

ROOT = Path(__file__).resolve().parents[2]

SCALARS_ONLY = """
import json, sys
from openmix.registry import VISUALIZERS
vis = VISUALIZERS.build(dict(type='LazyFigureVisualizer', name='lazy', save_dir=sys.argv[1],
                             vis_backends=[dict(type='LocalVisBackend')]))
vis.add_scalars(dict(loss=1.5), step=3)
after_scalars = 'matplotlib' in sys.modules
dpi = vis.dpi  # the first figure attribute builds the figure
print(json.dumps(dict(after_scalars=after_scalars, after_dpi='matplotlib' in sys.modules, dpi=dpi)))
"""


def test_scalars_do_not_import_matplotlib(tmp_path):
    out = subprocess.run([sys.executable, '-c', SCALARS_ONLY, str(tmp_path)], capture_output=True, text=True,
                         env={**os.environ, 'PYTHONPATH': str(ROOT)}, timeout=120)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row['after_scalars'] is False and row['after_dpi'] is True and row['dpi'] > 0
    scalars = [json.loads(line) for line in (tmp_path / 'vis_data' / 'scalars.json').read_text().splitlines()]
    assert scalars == [dict(loss=1.5, step=3)]


def test_drawing_matches_mmengine_visualizer():
    from openmix.engine.visualizer import LazyFigureVisualizer
    img = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    drawn = []
    for cls, name in ((Visualizer, 'mm'), (LazyFigureVisualizer, 'lazy')):
        vis = cls(name=f'draw_{name}')
        vis.set_image(img)
        vis.draw_bboxes(np.array([[2, 3, 20, 15]]), edge_colors='r', line_widths=2)
        drawn.append(vis.get_image())
        assert vis.dpi == vis.fig_save.get_dpi()
    assert drawn[0].shape == (24, 32, 3)
    np.testing.assert_array_equal(drawn[1], drawn[0])
    assert not np.array_equal(drawn[1], img)  # the box was drawn


def test_image_at_construction_builds_the_figure_at_once():
    from openmix.engine.visualizer import LazyFigureVisualizer
    img = np.zeros((8, 10, 3), dtype=np.uint8)
    vis = LazyFigureVisualizer(name='eager', image=img)
    assert 'fig_save' in vis.__dict__ and vis.get_image().shape == (8, 10, 3)
