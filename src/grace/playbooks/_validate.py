"""Validate plain data against a pydantic model and place each fault at its YAML node.

Each ``ValidationError`` entry's ``loc`` is a path into the data (``("steps", 1, "with")``,
using the YAML key ``with``, not the Python name ``with_``), sometimes followed by union tags
(``"int"``, ``"list[int]"``) that are not part of the data. We walk the loc through the data to
find the field it names, then describe the fault in words with a hint on how to fix it.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from grace._docstrings import field_docs
from grace.playbooks._report import Report, did_you_mean
from grace.playbooks._source import FieldPath

__all__ = ("allowed_keys", "validate_model")

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

_EXPECTED = re.compile(r"'([^']*)'")


def validate_model(
    model: type[M],
    data: Any,
    report: Report,
    *,
    base: FieldPath = (),
    noun: str = "key",
    owner: str = "",
    skip: Callable[[Loc], bool] | None = None,
) -> M | None:
    """Validate ``data`` (found at ``base``) as ``model``; report every fault.

    Args:
        model: the pydantic model class.
        data: plain data, as loaded from YAML.
        report: where problems go.
        base: the field path of ``data`` in the file.
        noun: what the model's fields are called in messages ("key", "parameter").
        owner: who the fields belong to, for messages ("action 'sleep'").
        skip: faults whose loc this returns True for are not reported (templated values).

    Returns:
        The model instance, or None when ``data`` has faults (reported or skipped).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    errors = [e for e in errors if skip is None or not skip(tuple(e["loc"]))]
    typos = _typos(model, errors)
    grouped: dict[FieldPath, list[ErrorDetails]] = {}
    for error in errors:
        loc: Loc = tuple(error["loc"])
        if error["type"] == "missing":
            if loc not in typos:  # else the unknown key's "did you mean" says it all
                _missing(model, loc, report, base, noun, owner)
        elif error["type"] == "extra_forbidden":
            _unknown(model, loc, report, base, noun, owner)
        else:
            grouped.setdefault(_resolve(data, loc), []).append(error)
    for path, group in grouped.items():
        _wrong_value(model, path, group, report, base)
    return None


def _typos(model: type[BaseModel], errors: list[ErrorDetails]) -> set[Loc]:
    """Missing fields that an unknown key next to them is a misspelling of."""
    missing = {tuple(e["loc"]) for e in errors if e["type"] == "missing"}
    typos: set[Loc] = set()
    for error in errors:
        if error["type"] != "extra_forbidden":
            continue
        *parent, name = error["loc"]
        wanted = [loc[-1] for loc in missing if list(loc[:-1]) == parent]
        close = difflib.get_close_matches(str(name), [str(w) for w in wanted], n=1)
        if close:
            typos.add((*parent, close[0]))
    return typos


def _resolve(data: Any, loc: Loc) -> FieldPath:
    """The longest prefix of ``loc`` that names something present in ``data``."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if not _has(node, part):
            break
        node = node[part]
        path.append(part)
    return tuple(path)


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, Mapping):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _missing(
    model: type[BaseModel], loc: Loc, report: Report, base: FieldPath, noun: str, owner: str
) -> None:
    *parent, name = loc
    whose = f" of {owner}" if owner else ""
    if noun == "parameter":
        known = allowed_keys(model, tuple(parent)) or []
        hint = f"add '{name}: …' under 'with:' ({owner} takes: {', '.join(known)})"
    else:
        description = _field_description(model, tuple(parent), str(name))
        hint = f"add '{name}: …'" + (f" ({description})" if description else "")
    report.add((*base, *parent), f"missing required {noun} '{name}'{whose}", hint, at="key")


def _unknown(
    model: type[BaseModel], loc: Loc, report: Report, base: FieldPath, noun: str, owner: str
) -> None:
    *parent, name = loc
    known = allowed_keys(model, tuple(parent))
    whose = f" for {owner}" if owner else ""
    hint = did_you_mean(str(name), known or ())
    if hint is None and known is not None:
        hint = f"allowed {noun}s here: {', '.join(known)}" if known else f"it takes no {noun}s"
    report.add((*base, *loc), f"unknown {noun} '{name}'{whose}", hint, at="key")


def _wrong_value(
    model: type[BaseModel],
    path: FieldPath,
    group: list[ErrorDetails],
    report: Report,
    base: FieldPath,
) -> None:
    first = group[0]
    messages: list[str] = []
    for error in group:
        text = _lower_first(error["msg"])
        if text not in messages:
            messages.append(text)
    message = "; or ".join(messages)
    value = first["input"]
    if first["type"] not in {"too_short", "too_long", "model_type", "dict_type"}:
        message += f", got {_show(value)}"
    report.add((*base, *path), message, _hint(first, path, model))


def _hint(error: ErrorDetails, path: FieldPath, model: type[BaseModel]) -> str | None:
    kind: str = error["type"]
    value = error["input"]
    if kind == "literal_error":
        options = _EXPECTED.findall(str(error.get("ctx", {}).get("expected", "")))
        return did_you_mean(str(value), options) if isinstance(value, str) else None
    if kind == "string_type" and value is not None and not isinstance(value, list | dict):
        return 'quote the value to make it a string (e.g. version: "1.0")'
    if kind in {"int_parsing", "float_parsing", "int_from_float"} and isinstance(value, str):
        return "write a plain number, without quotes or units (e.g. 30, not '30s')"
    if kind == "bool_parsing":
        return "use true or false"
    if kind == "dict_type" and isinstance(value, list):
        return "write 'key: value' lines here, not '- item' entries"
    if kind in {"dict_type", "model_type"}:
        return "write 'key: value' lines here"
    if kind == "list_type":
        return "write a YAML list: one '- item' per line, or [a, b]"
    if kind == "string_pattern_mismatch" and isinstance(value, str) and path[-1:] == ("name",):
        fixed = re.sub(r"[^a-z0-9_]+", "_", value.lower()).strip("_") or "my_name"
        return f"names are lower_snake_case: letters, digits and '_' (e.g. '{fixed}')"
    if kind == "too_short" and path == ("steps",) and model.__name__ == "PlaybookSpec":
        return "a playbook needs at least one step"
    return None


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def allowed_keys(model: type[BaseModel], loc: Loc) -> list[str] | None:
    """The keys the mapping at ``loc`` (relative to ``model``) accepts; None when unknown."""
    target = _model_at(model, loc)
    if target is None:
        return None
    return sorted(info.alias or name for name, info in target.model_fields.items())


def _field_description(model: type[BaseModel], loc: Loc, name: str) -> str | None:
    target = _model_at(model, loc)
    if target is None:
        return None
    docs = field_docs(target)
    for field_name, info in target.model_fields.items():
        described = info.description or docs.get(field_name)
        if name in {field_name, info.alias} and described:
            text = described.strip().split("\n")[0].rstrip(".").replace("``", "'")
            return _lower_first(text)
    return None


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """Follow ``loc`` through field annotations down to the model of that mapping."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str):
                return None
            info = next(
                (f for n, f in current.model_fields.items() if part in {n, f.alias}),
                None,
            )
            if info is None:
                return None
            current = _unwrap(info.annotation)
        else:
            current = _item_type(current)
            if current is None:
                return None
            current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """``X | None`` → X and ``Annotated[X, …]`` → X (the first model of a union wins)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        args = [a for a in get_args(annotation) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if models else (args[0] if len(args) == 1 else None)
    return annotation


def _item_type(annotation: Any) -> Any:
    """The element type of ``list[X]`` or the value type of ``dict[str, X]``."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in {list, tuple, set, frozenset} and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None
