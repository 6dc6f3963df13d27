"""Switch input mixing off for the last epochs of training."""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from openmix.registry import HOOKS

__all__ = ['MixOffHook']


@HOOKS.register_module()
class MixOffHook(Hook):
    """Train the last ``off_epochs`` epochs without mixing (``model.mixer.enabled = False``).

    Mixing augmentations are often switched off for the final epochs so the network sees clean images before
    evaluation (e.g. the "mixup off" stage of YOLOX, Ge et al., 2021; mmpretrain's ``SwitchRecipeHook``).

    The state is set from the epoch at every ``before_train_epoch`` (enabled before ``max_epochs - off_epochs``,
    disabled from then on), never toggled, so a run resumed inside the last epochs mixes exactly like the
    uninterrupted one. A model without a mixer (``model.mixer is None``) is left alone.

    Args:
        off_epochs: number of final epochs trained without mixing (0 keeps mixing on throughout).
    """

    priority = 'NORMAL'

    def __init__(self, off_epochs: int) -> None:
        if off_epochs < 0:
            raise ValueError(f'off_epochs must be >= 0, got {off_epochs}')
        self.off_epochs = int(off_epochs)
        self._logged = False

    def before_train_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        mixer = getattr(model, 'mixer', None)
        if mixer is None:
            return
        off = self.off_epochs > 0 and runner.epoch >= runner.max_epochs - self.off_epochs
        mixer.enabled = not off
        if off and not self._logged:
            print_log(f'MixOffHook: input mixing off from epoch {runner.epoch + 1} (last {self.off_epochs} of '
                      f'{runner.max_epochs} epochs)', logger='current')
            self._logged = True
