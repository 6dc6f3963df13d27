from pathlib import Path

from setuptools import find_packages, setup

version = {}
exec(Path('openmix/version.py').read_text(), version)

setup(
    name='openmix',
    version=version['__version__'],
    description='Config-driven mixup-family data augmentation (Mixup, CutMix, TransMix, ...) on timm backbones',
    long_description=Path('README.md').read_text(encoding='utf-8') if Path('README.md').exists() else '',
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    packages=find_packages(include=['openmix', 'openmix.*']),
    include_package_data=True,
    # torch and torchvision must come as a matching pair; on a CPU-only machine install them first (see README).
    install_requires=[
        'torch>=2.6',  # torch.nn.utils.get_total_norm, weights-only loading by default
        'torchvision>=0.21',
        'timm>=1.0.15',
        'safetensors>=0.4',  # tools/export.py (timm depends on it too)
        'mmengine>=0.10.4,<0.11',
        'mmcv-lite>=2.1',
        'numpy',
        'pillow',
        'tensorboard',
    ],
    # puzzlemix: the max-flow of PuzzleMix's graph-cut solver (SciPy >= 1.8 also works, slower)
    # (the tests exercise the solver, so dev includes it)
    # (dev: matplotlib so the reliability-diagram and plot_curves tests run instead of being skipped)
    extras_require={'dev': ['pytest>=8', 'pytest-timeout', 'PyMaxflow>=1.3', 'matplotlib>=3.5'],
                    'puzzlemix': ['PyMaxflow>=1.3'],
                    'plot': ['matplotlib>=3.5']},
    classifiers=['Programming Language :: Python :: 3', 'License :: OSI Approved :: Apache Software License'],
)
