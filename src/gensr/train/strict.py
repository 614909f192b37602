"""Strict conversion of plain data (YAML, ``--set`` values) into typed frozen dataclasses.

:func:`convert` checks a value against a type annotation -- dataclasses (unknown keys rejected,
with a "did you mean" hint), ``Literal``, unions, ``bool``/``int``/``float``/``str``, tuples, lists
and dicts -- and names the full dotted key in every error. Lists become tuples where the
annotation says tuple, and integers become floats where it says float; nothing else is coerced.
"""

from __future__ import annotations

import ast
import difflib
import types
import typing
from dataclasses import fields, is_dataclass
from typing import Any, Literal

import yaml

__all__ = ["ConfigError", "convert", "to_plain", "to_yaml", "parse_override", "set_dotted"]


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the dotted key."""


def parse_override(item: str) -> tuple[str, Any]:
    """``"a.b=1e-4"`` -> ``("a.b", 0.0001)``: a Python literal, else YAML (``[a, b]``), else a string.

    >>> parse_override("train.iters=500")
    ('train.iters', 500)
    >>> parse_override("data.train=['a', 'b']")
    ('data.train', ['a', 'b'])
    >>> parse_override("train.precision=bf16")
    ('train.precision', 'bf16')
    >>> parse_override("val.lpips=false")
    ('val.lpips', False)
    >>> parse_override("data.train=[DIV2K/HR, Flickr2K/HR]")
    ('data.train', ['DIV2K/HR', 'Flickr2K/HR'])
    """
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.iters=500")
    text = text.strip()
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        try:
            value = yaml.safe_load(text) if text else text
        except yaml.YAMLError:
            value = text
    return key, value


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``key = "a.b.c"``, creating missing sections."""
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a section")
        node = child
    node[parts[-1]] = value


def to_plain(cfg: Any) -> Any:
    """Plain dicts/lists/scalars of a config (tuples become lists), ready for YAML or JSON."""
    if is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: to_plain(getattr(cfg, f.name)) for f in fields(cfg)}
    if isinstance(cfg, dict):
        return {str(k): to_plain(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [to_plain(v) for v in cfg]
    return cfg


class _Dumper(yaml.SafeDumper):
    """Lists on one line (``betas: [0.9, 0.99]``), sections as blocks."""


_Dumper.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def to_yaml(data: Any) -> str:
    """YAML text of plain data, keys in their order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False)


def convert(tp: Any, value: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert (lists -> tuples, int -> float)."""
    where = key or "config"
    if is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a section (mapping), got {_show(value)}")
        hints = typing.get_type_hints(tp)
        names = [f.name for f in fields(tp) if f.init]
        kwargs = {}
        for k, v in value.items():
            sub = f"{key}.{k}" if key else str(k)
            if k not in names:
                close = difflib.get_close_matches(str(k), names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(names)})"
                raise ConfigError(f"{sub}: unknown key{hint}")
            kwargs[k] = convert(hints[k], v, sub)
        try:
            return tp(**kwargs)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}: {e}") from None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: must be one of {', '.join(map(repr, args))}, got {_show(value)}")
        return value
    if origin in (typing.Union, types.UnionType):
        for alt in args:
            try:
                return convert(alt, value, key)
            except ConfigError:
                pass
        raise ConfigError(f"{where}: {_show(value)} fits none of {tp}")
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null, got {_show(value)}")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {_show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {_show(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {_show(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {_show(value)}")
        return value
    if origin in (tuple, list):
        if isinstance(value, str) and origin is tuple and args and args[-1] is Ellipsis and args[0] is str:
            value = [value]  # a single folder where a list of folders is expected
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {_show(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            items = [convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))]
        else:
            elem = args[0] if args else Any
            items = [convert(elem, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {_show(value)}")
        kt, vt = args if args else (Any, Any)
        return {convert(kt, k, key): convert(vt, v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(tp, type):
        if not isinstance(value, tp):
            raise ConfigError(f"{where}: expected {tp.__name__}, got {_show(value)}")
        return value
    raise ConfigError(f"{where}: unsupported annotation {tp!r}")  # a bug in a config class


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"
