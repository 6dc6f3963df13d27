"""Check a config dict's keys and value types against the signature of the class it builds, before building.

A misspelled key that lands in ``**kwargs`` is otherwise ignored (``default_hooks.checkpoint.intervl=1``), and a
value of the wrong type fails deep inside the built object (``optim_wrapper.optimizer.lr=abc`` in torch's AdamW,
after the model and data were built). :func:`accepted_params` follows ``**kwargs`` through the ``__init__`` chain
(the MRO) to the names a class really takes; :func:`check_args` names the full key, the expected type and the closest
valid names.
"""
from __future__ import annotations

import ast
import difflib
import inspect
import re
import textwrap
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ['accepted_params', 'check_args', 'ConfigArgError']


class ConfigArgError(ValueError):
    """A config key a component does not take, or a value of the wrong type; the message names the key."""


def _kwargs_use(func: Any, kw_name: str) -> str:
    """How ``func`` uses its ``**kw_name``: ``'super'`` (only forwarded to a base ``__init__``), ``'kept'`` (stored
    or read by key, never passed on as keywords) or ``'unknown'`` (passed to another callable: any name may be valid).
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return 'unknown'
    forwarded = False
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg is None and isinstance(kw.value, ast.Name) and kw.value.id == kw_name:
                if isinstance(node.func, ast.Attribute) and node.func.attr == '__init__':
                    forwarded = True
                else:
                    return 'unknown'
        for arg in node.args:  # f(kwargs) / f(*args, kwargs): passed on whole
            if isinstance(arg, ast.Name) and arg.id == kw_name and not (
                    isinstance(node.func, ast.Attribute) and node.func.attr in ('pop', 'get', 'setdefault')):
                return 'unknown'
    return 'super' if forwarded else 'kept'


def accepted_params(obj: Any) -> dict[str, inspect.Parameter] | None:
    """The keyword parameters ``obj`` (a class or function) accepts, with ``**kwargs`` followed to the base classes'
    ``__init__`` it is forwarded to; ``None`` when the names cannot be known (``**kwargs`` handed to another callable,
    or no inspectable signature)."""
    if not inspect.isclass(obj):
        try:
            params = inspect.signature(obj).parameters
        except (TypeError, ValueError):
            return None
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return None
        return {n: p for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    found: dict[str, inspect.Parameter] = {}
    for klass in obj.__mro__:
        if '__init__' not in vars(klass):
            continue
        if klass is object:
            return found
        init = vars(klass)['__init__']
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            return None
        var_kw = None
        for i, (name, p) in enumerate(params.items()):
            if i == 0 and name == 'self':
                continue
            if p.kind is p.VAR_KEYWORD:
                var_kw = name
            elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                found.setdefault(name, p)
        if var_kw is None:
            return found
        use = _kwargs_use(init, var_kw)
        if use == 'unknown':
            return None
        if use == 'kept':
            return found
    return found


_NUMERIC = {'int': int, 'float': float, 'bool': bool}
_ALLOWS_STR = re.compile(r'\b(str|Any|Literal|object|PathLike|Path|Callable)\b')


def _annotation_text(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ''
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace('typing.', '')


def _annotation_types(annotation: Any) -> set[type] | None:
    """The builtin scalar types an annotation names when it names only ``int``/``float``/``bool``/``None``."""
    if annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, str):
        parts = [p.strip() for p in re.sub(r'^Optional\[(.*)\]$', r'\1 | None', annotation.strip()).split('|')]
        if all(p in _NUMERIC or p == 'None' for p in parts):
            return {_NUMERIC[p] for p in parts if p != 'None'}
        return None
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else (
        annotation,)
    if all(a in (int, float, bool, type(None)) for a in args):
        return {a for a in args if a is not type(None)}
    return None


def expected_type(param: inspect.Parameter) -> type | None:
    """``int``, ``float`` or ``bool`` where the parameter clearly wants that scalar (its annotation names only such
    types, or, with no clear annotation that admits a string, its default is one), else ``None``."""
    text = _annotation_text(param.annotation)
    if _ALLOWS_STR.search(text):
        return None
    types = _annotation_types(param.annotation)
    if types:
        if types == {bool}:
            return bool
        return float if float in types else (int if int in types else None)
    default = param.default
    if isinstance(default, bool):
        return bool
    if isinstance(default, (int, float)) and not text:
        return type(default)
    if isinstance(default, float):  # an unclear annotation (e.g. float | Tensor) with a float default
        return float
    return None


def _type_problem(value: Any, want: type) -> str | None:
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
        hint = (f' (a number in quotes: write {value} without them)' if number is not None and want is not bool
                else ' (write True or False, without quotes)' if want is bool and value.lower() in ('true', 'false')
                else '')
        return f'expected {want.__name__}, got str {value!r}{hint}'
    return None


def check_args(cfg: Mapping, key: str, target: Any, *, extra: Iterable[str] = (), ignore: Iterable[str] = ('type',),
               injected: Iterable[str] = (), label: str | None = None) -> None:
    """Raise :class:`ConfigArgError` for the first key of ``cfg`` that ``target`` does not take, or whose value
    is a string where ``target``'s signature wants a number or a bool.

    Args:
        cfg: The config dict (e.g. ``cfg.optim_wrapper.optimizer``).
        key: Its full config key, used in messages (``'optim_wrapper.optimizer'``).
        target: The class or function the dict builds (or a ``dict`` name -> ``inspect.Parameter``).
        extra: Keys the builder consumes itself (``constructor``, ``convert_to_iter_based``...).
        ignore: Keys never checked (``type``).
        injected: Parameters the builder passes itself (``params`` of an optimizer, ``runner`` of a loop); they are
            not offered as close matches.
        label: How to name ``target`` in messages (default: its ``__name__``).
    """
    params = target if isinstance(target, dict) else accepted_params(target)
    name = label or getattr(target, '__name__', str(target))
    extra, ignore, injected = set(extra), set(ignore), set(injected)
    for arg, value in cfg.items():
        if arg in ignore or arg in extra:
            continue
        if params is not None and arg not in params:
            valid = sorted((set(params) - injected) | extra)
            close = difflib.get_close_matches(arg, valid, n=3, cutoff=0.6)
            hint = f' Did you mean: {", ".join(close)}?' if close else ''
            raise ConfigArgError(f'config key `{key}.{arg}`: {name} takes no argument {arg!r}.{hint} '
                                 f'Valid keys: {", ".join(valid)}.')
        if params is not None:
            want = expected_type(params[arg])
            problem = _type_problem(value, want) if want is not None else None
            if problem:
                raise ConfigArgError(f'config key `{key}.{arg}` ({name}): {problem}.')
