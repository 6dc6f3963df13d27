"""mmengine's ``CheckpointHook`` that never leaves the work dir without a best model or with a half-written pointer."""
from __future__ import annotations

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from openmix.registry import HOOKS
from openmix.utils.resume import remove_stale_temp_files, write_last_checkpoint


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` (same arguments) whose kill-safe order keeps a best and a resumable checkpoint at all times.

    Differences from mmengine 0.10.7's ``CheckpointHook``:

    * A new best checkpoint is written first (atomically, through ``AtomicLocalBackend``), and only then is the
      previous best removed; mmengine removes the old one first, so a kill while the new one is written left no best
      model at all.
    * ``last_checkpoint`` is written to a temporary file and renamed (mmengine truncates it in place).
    * Before training, the main process removes the temporary files (``.epoch_2.pth.tmp-...``) a killed run left in
      the checkpoint directory.

    Example:
        >>> default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook', interval=1, save_best='accuracy/top1'))
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process():
            for d in dict.fromkeys((runner.work_dir, self.out_dir)):
                for path in remove_stale_temp_files(d):
                    runner.logger.info(f'removed {path}, a partial write left by an interrupted run')

    def _best_paths(self) -> dict:
        if len(self.key_indicators) == 1:
            return {None: getattr(self, 'best_ckpt_path', None)}
        return dict(self.best_ckpt_path_dict)

    def _set_best_path(self, key, path) -> None:
        if key is None:
            self.best_ckpt_path = path
        else:
            self.best_ckpt_path_dict[key] = path

    def _save_best_checkpoint(self, runner, metrics) -> None:
        # Hide the previous best paths from mmengine's implementation so that it does not remove them, let it write
        # the new best, then remove the previous ones that were replaced.
        old = self._best_paths() if self.save_best else {}
        for key in old:
            self._set_best_path(key, None)
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            new = self._best_paths() if self.save_best else {}
            for key, path in old.items():
                if new.get(key) is None:  # not improved (or failed before choosing a name): keep the previous best
                    self._set_best_path(key, path)
        for key, path in old.items():
            if path and new.get(key) not in (None, path) and is_main_process():
                if self.file_backend.isfile(path):
                    self.file_backend.remove(path)
                elif self.file_backend.isdir(path):  # deepspeed checkpoints are directories
                    self.file_backend.rmtree(path)
                else:
                    continue
                runner.logger.info(f'The previous best checkpoint {path} is removed')

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # mmengine 0.10.7's body, with the pointer written atomically
        if self.max_keep_ckpts > 0:
            if not (len(self.keep_ckpt_ids) > 0 and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    _step = self.keep_ckpt_ids.popleft()
                    if is_main_process():
                        ckpt_path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(_step))
                        if self.file_backend.isfile(ckpt_path):
                            self.file_backend.remove(ckpt_path)
                        elif self.file_backend.isdir(ckpt_path):
                            self.file_backend.rmtree(ckpt_path)
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(self.out_dir, ckpt_filename, self.file_client_args, save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
                               backend_args=self.backend_args, **self.args)
        if is_main_process():
            write_last_checkpoint(runner.work_dir, self.last_ckpt)
