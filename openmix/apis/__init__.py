from .config import apply_cfg_options, check_config_types, parse_cfg_options
from .train import build_runner, load_config, output_summary

__all__ = ['parse_cfg_options', 'apply_cfg_options', 'check_config_types', 'load_config', 'build_runner',
           'output_summary']
