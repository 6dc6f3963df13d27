"""A Visualizer that builds its matplotlib figure when something is first drawn, not when the run starts."""
from __future__ import annotations

from mmengine.visualization import Visualizer

from openmix.registry import VISUALIZERS

__all__ = ['LazyFigureVisualizer']

#: What mmengine's Visualizer.__init__ sets from the figure it builds.
_FIGURE_ATTRS = ('fig_save_canvas', 'fig_save', 'ax_save', 'dpi')


class _NoFigureYet:
    """Stands in for the figure while mmengine's ``__init__`` runs (it only reads ``get_dpi``)."""

    @staticmethod
    def get_dpi() -> float:
        return 0.0


@VISUALIZERS.register_module()
class LazyFigureVisualizer(Visualizer):
    """mmengine's ``Visualizer`` (scalars, configs and images to its backends) whose matplotlib figure is built on the
    first draw call instead of in ``__init__``.

    mmengine builds the figure, importing matplotlib, whenever a runner starts: 0.4-0.6 s of start-up (measured on
    the CPU peer job, ``benchmarks/cpu_peer.py``) for training runs that only log scalars. Everything else is
    mmengine's: ``fig_save``, ``ax_save``, ``fig_save_canvas`` and ``dpi`` exist as before, built on first use.
    Passing ``image`` builds the figure at once, as mmengine does.
    """

    def __init__(self, name: str = 'visualizer', image=None, **kwargs) -> None:
        self._defer_figure = image is None
        super().__init__(name, image, **kwargs)
        if self._defer_figure:
            for name in _FIGURE_ATTRS:  # built on first access by __getattr__
                self.__dict__.pop(name, None)

    def _initialize_fig(self, fig_cfg) -> tuple:
        # mmengine calls this only from __init__; __getattr__ builds the real figure on first use
        if self._defer_figure:
            return None, _NoFigureYet(), None
        return super()._initialize_fig(fig_cfg)

    def __getattr__(self, name: str):
        # only reached when normal lookup fails: a figure attribute before the first draw
        if name in _FIGURE_ATTRS and self.__dict__.get('_defer_figure'):
            self._defer_figure = False
            self.fig_save_canvas, self.fig_save, self.ax_save = Visualizer._initialize_fig(self, self.fig_save_cfg)
            self.dpi = self.fig_save.get_dpi()
            return self.__dict__[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
