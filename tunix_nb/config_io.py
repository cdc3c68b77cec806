"""Reading a config, whatever its sections: YAML that refuses a key given twice, `--set a.b=v`
overrides, and the type checks that build frozen section dataclasses from plain data (each
refusal names the field). The sections and their own checks live in `config`, `config_data`
and `config_rl`."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import UserError


def require(ok: bool, field: str, problem: str) -> None:
    """The one way a section refuses a value: `field: problem` (the problem says the fix)."""
    if not ok:
        raise UserError(f"{field}: {problem}")


def read_yaml(path: Path) -> Any:
    """A config file's YAML, every way it can be unreadable told as `file:line: what`."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_ConfigLoader)  # noqa: S506 (a SafeLoader)
    except _DuplicateKey as e:
        raise UserError(f"{path}:{e.line}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save the config as UTF-8") from None


class _DuplicateKey(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (plain PyYAML keeps the last one
    silently, so a preset edited in two places would run with whichever came later)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._where: dict[int, str] = {}  # id(mapping node) -> its dotted path

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        path = self._where.get(id(node), "")
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may override on purpose
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: SafeLoader reports it below
                continue
            if duplicate:
                where = f"in {path}" if path else "at the top level"
                raise _DuplicateKey(f"key {key!r} given twice {where}; keep one", key_node.start_mark.line + 1)
            if isinstance(value_node, yaml.MappingNode):
                self._where[id(value_node)] = f"{path}.{key}" if path else str(key)
        return super().construct_mapping(node, deep=deep)


def apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set {item!r}: expected section.key=value, e.g. training.max_steps=20")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        if node.get(part) is None:  # a null optional section (e.g. training.lora) is switched on
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise UserError(f"--set {item!r}: {part} is not a section")
    node[parts[-1]] = yaml.safe_load(text) if text.strip() else None


def build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise UserError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = prefix.rstrip(".") or "top level"
        raise UserError(f"unknown key {prefix}{unknown[0]!s}; valid keys in {where}: {', '.join(fields)}")
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and data.get(name) is None:
            what = "section" if dataclasses.is_dataclass(hints[name]) else "key"
            raise UserError(f"{what} {prefix}{name} is missing; add one, "
                            "e.g. as in training/configs/smoke_tiny.yaml")
    kwargs = {name: _check(value, hints[name], f"{prefix}{name}") for name, value in data.items()}
    return cls(**kwargs)


def _check(value: Any, hint: Any, name: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _check(value, inner, name)
    if dataclasses.is_dataclass(hint):
        # A non-optional section given as null (`model:` with nothing) takes its defaults.
        return build(hint, {} if value is None else value, f"{name}.")
    if origin is Literal:
        if value not in args:
            raise UserError(f"{name}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin is dict:
        value_hint = args[1]  # keys are always names (str)
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            what = "numbers" if value_hint is float else "names"
            raise UserError(f"{name}: expected a mapping of names to {what}, got {value!r}")
        return {k: _check(v, value_hint, f"{name}.{k}") for k, v in value.items()}
    if origin is tuple and dataclasses.is_dataclass(args[0]):
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{name}: expected a list of mappings, got {value!r}")
        return tuple(_check_entry(v, args[0], f"{name}[{i}]") for i, v in enumerate(value))
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise UserError(f"{name}: expected a list of strings, got {value!r}")
        return tuple(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise UserError(f"{name}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{name}: expected an integer, got {value!r}")
        return value
    if hint is float:
        # PyYAML reads "2e-5" (no dot) as a string, so accept numeric strings here.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{name}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        # PyYAML reads a plain "-200:" (a row range) as the mapping {-200: None}: give it back as written.
        if isinstance(value, dict) and len(value) == 1 and None in value.values():
            value = f"{next(iter(value))}:"
        if not isinstance(value, str):
            raise UserError(f"{name}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} for {name}")  # a bug in this module


def _check_entry(value: Any, hint: Any, name: str) -> Any:
    """One entry of a list of sections (data.mix); its own checks name fields relative to it."""
    try:
        return _check(value, hint, name)
    except UserError as e:
        raise UserError(str(e) if name in str(e) else f"{name}.{e}") from None


def changed(section: Any) -> dict[str, Any]:
    """The fields of a config dataclass that differ from their defaults (required ones always);
    nested sections are compared field by field with their own defaults."""
    out = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        if dataclasses.is_dataclass(value):
            inner = changed(value)
            if inner or default is dataclasses.MISSING or default is None:
                out[f.name] = inner
        elif default is dataclasses.MISSING or value != default:
            out[f.name] = _asdict_any(value)
    return out


def _asdict_any(value: Any) -> Any:
    """A value as plain data (a list of sections, e.g. data.mix, becomes a list of dicts)."""
    if isinstance(value, (list, tuple)):
        return [_asdict_any(v) for v in value]
    return changed(value) if dataclasses.is_dataclass(value) else value


def plain(obj: Any) -> Any:
    """Tuples to lists, so YAML/JSON dumps are plain."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj
