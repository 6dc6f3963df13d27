from .config import apply_cfg_options, check_config_args, check_config_types, parse_cfg_options
from .data_checks import check_training_data
from .train import build_runner, exit_status, load_config, output_summary

__all__ = ['parse_cfg_options', 'apply_cfg_options', 'check_config_types', 'check_config_args', 'check_training_data',
           'load_config', 'build_runner', 'output_summary', 'exit_status']
