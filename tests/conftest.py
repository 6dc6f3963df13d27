import os

os.environ.setdefault('OMP_NUM_THREADS', '1')

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope='session')
def _openmix_env():
    """Registries imported and the default scope set, as tools/train.py does."""
    from openmix.utils.setup_env import register_all_modules
    register_all_modules()
    yield
