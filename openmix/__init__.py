"""openmix: config-driven mixup-family augmentation on timm backbones (mmengine runner)."""
from .version import __version__

__all__ = ['__version__']
