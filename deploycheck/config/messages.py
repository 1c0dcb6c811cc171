"""Pydantic's validation errors, said the way deploycheck says things: what is expected, what was found (unless it
may be secret), and the fix, such as the keys allowed where an unknown one was found."""

from __future__ import annotations

import difflib
from typing import Any, get_args, get_origin

from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from deploycheck.config.errors import KeyPath

_EXPECTED = {
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "dataclass_type": "expected a mapping",
    "dataclass_args_type": "expected a mapping",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "too_short": "expected at least one entry",
}
_UNKNOWN_KEY = ("extra_forbidden", "unexpected_keyword_argument")


def describe(error: ErrorDetails, model: type, hide_input: bool) -> str:
    """The reason for one error of validating `model`; the value found is left out if `hide_input`."""
    kind, loc = error["type"], tuple(error["loc"])
    if kind in _UNKNOWN_KEY:
        return _unknown_key(model, loc)
    if kind == "missing":
        field = _field_at(model, loc)
        return f"missing: {field.description}" if field is not None and field.description else "missing"
    if kind == "literal_error":
        expected = str(error.get("ctx", {}).get("expected", "")).replace("'", "").replace(" or ", ", ")
        reason = f"must be one of {expected}"
    elif kind in ("too_long", "too_short") and error.get("ctx", {}).get("max_length") == 2:
        reason = "expected a list of exactly 2 entries"
    elif kind in _EXPECTED:
        reason = _EXPECTED[kind]
    else:
        reason = error["msg"].removeprefix("Value error, ")
    found = _found(error["input"], kind) if not hide_input else ""
    return f"{reason}, found {found}" if found else reason


def allowed_keys(model: type, loc: KeyPath) -> list[str]:
    """The keys of the model at `loc` (a path inside `model`), in declaration order; [] if not a model."""
    for candidate in _candidates(_annotation_at(model, loc)):
        fields = _fields(candidate)
        if fields is not None:
            return list(fields)
    return []


def _unknown_key(model: type, loc: KeyPath) -> str:
    allowed = allowed_keys(model, loc[:-1])
    if not allowed:
        return "unknown key"
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"unknown key (allowed here: {', '.join(allowed)}){hint}"


def _found(value: Any, kind: str) -> str:
    if isinstance(value, dict | list | tuple):
        return ("a mapping" if isinstance(value, dict) else "a list") if kind in _EXPECTED else ""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        text = repr(value)
        return (
            text
            if len(text) <= 60
            else f"{text[:57]}... ({len(value) if isinstance(value, str) else len(text)} characters)"
        )
    return ""


# --------------------------------------------------------------------------------------------------------------
# Walking the model along an error's location


def _field_at(model: type, loc: KeyPath) -> FieldInfo | None:
    if not loc:
        return None
    for candidate in _candidates(_annotation_at(model, loc[:-1])):
        fields = _fields(candidate)
        if fields is not None and loc[-1] in fields:
            return fields[str(loc[-1])]
    return None


def _annotation_at(model: Any, loc: KeyPath) -> Any:
    annotation = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return None
    return annotation


def _step(annotation: Any, part: str | int) -> Any:
    for candidate in _candidates(annotation):
        fields = _fields(candidate)
        if fields is not None:
            return fields[part].annotation if isinstance(part, str) and part in fields else None
        origin, arguments = get_origin(candidate), get_args(candidate)
        if origin is dict and isinstance(part, str):
            return arguments[1]
        if origin is list and isinstance(part, int):
            return arguments[0]
        if origin is tuple and isinstance(part, int):
            return arguments[0] if len(arguments) == 2 and arguments[1] is Ellipsis else arguments[part]
    return None


def _candidates(annotation: Any) -> list[Any]:
    """The types an annotation may stand for: `X | None` -> [X]; `Annotated[X, ...]` -> [X]."""
    if annotation is None or annotation is type(None):
        return []
    if get_origin(annotation) is not None and type(None) in get_args(annotation):
        return [candidate for argument in get_args(annotation) for candidate in _candidates(argument)]
    return [annotation]


def _fields(candidate: Any) -> dict[str, FieldInfo] | None:
    """The fields of a pydantic model or pydantic dataclass; None for anything else."""
    fields = getattr(candidate, "__pydantic_fields__", None) if isinstance(candidate, type) else None
    return dict(fields) if isinstance(fields, dict) else None
