"""The reference-exact rule (issue 10): every method's docstring ends with its "Differences from the reference
code" section, and the fixtures it cites say where they came from."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import openmix.models  # noqa: F401  (registers everything)
import openmix.token_labeling  # noqa: F401
from openmix.registry import HOOKS, MIXERS, MODELS

ROOT = Path(__file__).resolve().parents[1]
#: where method classes live (mixers are all methods); infrastructure (heads, losses, preprocessor) is not
METHOD_FILES = ('openmix/mixers/', 'openmix/models/automix/', 'openmix/token_labeling/',
                'openmix/models/label_rules/', 'openmix/models/backbones/lvvit.py',
                'openmix/models/backbones/patch_embed.py', 'openmix/models/backbones/class_attention_head.py',
                'openmix/models/losses/decouple_mix.py', 'openmix/models/losses/sumix.py')


def method_classes():
    for registry in (MIXERS, MODELS, HOOKS):
        for name, cls in sorted(registry.module_dict.items()):
            path = Path(inspect.getsourcefile(cls)).resolve()
            if path.is_relative_to(ROOT) and str(path.relative_to(ROOT)).startswith(METHOD_FILES):
                yield pytest.param(cls, id=name)


@pytest.mark.parametrize('cls', list(method_classes()))
def test_method_docstring_ends_with_differences_from_the_reference(cls):
    doc = inspect.getdoc(cls) or ''
    assert 'Differences from the reference code' in doc, f'{cls.__name__}: no "Differences from the reference code"'
    tail = doc[doc.index('Differences from the reference code'):]
    later = re.findall(r'^(Args|Example|Examples|Returns|Attributes):\s*$', tail, flags=re.M)
    assert not later, f'{cls.__name__}: the Differences section must end the docstring, but {later} follow it'


def test_every_reference_fixture_says_where_it_came_from():
    fixtures = sorted((ROOT / 'tests' / 'fixtures' / 'reference').glob('*.npz'))
    assert len(fixtures) >= 10
    for npz in fixtures:
        md = npz.with_suffix('.md')
        assert md.is_file(), f'{npz.name} has no {md.name}'
        text = md.read_text()
        assert re.search(r'\b[0-9a-f]{7,40}\b', text) and 'github' in text.lower(), f'{md.name}: repo and commit'
        assert npz.stat().st_size < 300_000, f'{npz.name} is {npz.stat().st_size} bytes: keep fixtures small'
