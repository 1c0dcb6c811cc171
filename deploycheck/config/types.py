"""The value types of the configuration model, each with its rule, its error message and its JSON Schema; and the
two base classes of the models.

Error messages say what is expected and never quote the value: the loader adds the value found, unless it came
from a variable or sits under a secret-like key. Numbers, durations and switches may also be written as `${VAR}`
(the JSON Schema allows that, so editors do not flag it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import CoreSchema, core_schema

from deploycheck.config.durations import MAX_TIMEOUT_S, seconds, timeout_seconds
from deploycheck.config.variables import Unresolved
from deploycheck.secrets import Secret

_VARIABLE_SCHEMA = {"type": "string", "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}"}


def _or_variable(schema: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [schema, _VARIABLE_SCHEMA]})


# --------------------------------------------------------------------------------------------------------------
# Model bases


class Model(BaseModel):
    """Every part of the file: unknown keys are errors (a typo must not silently switch a check off)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Section(Model):
    """A section read by later checks (prometheus, database, ...). Loaded without its variables, a value whose
    `${VAR}` is unset is an `Unresolved` stand-in that raises `ConfigError` when used; `resolved` says if any is."""

    @field_validator("*", mode="wrap")
    @classmethod
    def _keep_unresolved(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        if _holds_unresolved(value) and not _nests_models(cls.model_fields[str(info.field_name)].annotation):
            return value  # checked once its variable is set (nested sections check their own values)
        return handler(value)

    @property
    def resolved(self) -> bool:
        return not self.unset_variables()

    def unset_variables(self) -> tuple[str, ...]:
        """The variables, unset when this section was loaded, that its values need."""
        found: list[str] = []
        _collect_unset([getattr(self, name) for name in type(self).model_fields], found)
        return tuple(dict.fromkeys(found))


def _holds_unresolved(value: Any) -> bool:
    if isinstance(value, Unresolved):
        return True
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(_holds_unresolved(item) for item in items)


def _nests_models(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_nests_models(argument) for argument in get_args(annotation))


def _collect_unset(value: Any, found: list[str]) -> None:
    if isinstance(value, Unresolved):
        found.extend(value.variables)
    elif isinstance(value, Section):
        found.extend(value.unset_variables())
    elif isinstance(value, dict):
        _collect_unset(list(value.values()), found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_unset(item, found)


@dataclass(frozen=True)
class Kind:
    """Annotated metadata: what the type is called in docs/configuration.md."""

    name: str


# --------------------------------------------------------------------------------------------------------------
# Text


@dataclass(frozen=True)
class Matching:
    """Annotated metadata: the text must match `pattern`; the error says what was `expected`."""

    pattern: str
    expected: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {**handler(schema), "pattern": f"^(?:{self.pattern})$"}

    def _check(self, value: str) -> str:
        if not re.fullmatch(self.pattern, value):
            raise ValueError(f"expected {self.expected}")
        return value


Text = Annotated[str, Matching(r"[\s\S]*\S[\s\S]*", "text that is not empty"), Kind("text")]
FilePath = Annotated[str, Matching(r"[^\x00]+", "the path of a file"), Kind("file path")]
ServiceName = Annotated[
    str, Matching(r"[A-Za-z0-9][A-Za-z0-9_.-]*", "a name of letters, digits, '-', '_', '.'"), Kind("name")
]
FlowName = Annotated[str, Matching(r"[A-Za-z0-9_-]+", "a flow name of letters, digits, '_' or '-'"), Kind("flow")]
CheckId = Annotated[
    str, Matching(r"[a-z0-9_]+(\.[a-z0-9_]+)?", "a check id like health.liveness, or its group"), Kind("check id")
]
KubernetesName = Annotated[
    str,
    Matching(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", "a Kubernetes name: lower case letters, digits, '-', '.'"),
    Kind("Kubernetes name"),
]
HeaderName = Annotated[
    str, Matching(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", "an HTTP header name, e.g. X-Api-Key"), Kind("header name")
]
MetricName = Annotated[str, Matching(r"[a-zA-Z_:][a-zA-Z0-9_:]*", "a Prometheus metric name"), Kind("metric name")]
LabelName = Annotated[str, Matching(r"[a-zA-Z_][a-zA-Z0-9_]*", "a Prometheus label name"), Kind("label name")]
_MATCHER = r'\s*[A-Za-z_][A-Za-z0-9_]*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*'
LabelMatchers = Annotated[
    str,
    Matching(rf"\s*\{{?{_MATCHER}(?:,{_MATCHER})*,?\s*\}}?\s*", 'PromQL label matchers, e.g. job="api", env!="dev"'),
    Kind("label matchers"),
]


def _header_value(value: str) -> str:
    if any(ord(character) < 32 and character != "\t" for character in value):
        raise ValueError("a header value must be one line without control characters")
    return value


HeaderValue = Annotated[str, AfterValidator(_header_value), Kind("text")]


def _secret(value: Any) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str) or not value:
        raise ValueError("expected text (better: a ${VAR} reference, so the secret stays out of the file)")
    return Secret(value)


SecretText = Annotated[
    Secret,
    PlainValidator(_secret),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "writeOnly": True, "description": "a secret: write it as ${VAR}"}),
    Kind("secret"),
]


def _http_url(value: str) -> str:
    if any(character.isspace() or ord(character) < 32 for character in value):
        raise ValueError("a URL must not contain spaces or control characters (write a space as %20)")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError("expected a URL like https://api.example.com") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("the URL has no host, e.g. https://api.example.com")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    return value.rstrip("/")


HttpUrl = Annotated[
    str,
    AfterValidator(_http_url),
    WithJsonSchema({"type": "string", "format": "uri", "pattern": r"^(https?://|\$\{)"}),
    Kind("URL"),
]


def _url_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must start with '/', e.g. /health")
    if any(character.isspace() or ord(character) < 32 for character in value):
        raise ValueError("a path must not contain spaces or control characters (write a space as %20)")
    return value


UrlPath = Annotated[
    str, AfterValidator(_url_path), WithJsonSchema({"type": "string", "pattern": r"^(/|\$\{)"}), Kind("URL path")
]


# --------------------------------------------------------------------------------------------------------------
# Numbers and durations


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ValueError("expected a number") from None
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def _non_negative(value: Any) -> float:
    number = _number(value)
    if number < 0:
        raise ValueError("must not be negative")
    return number


def _integer(low: int, high: int) -> BeforeValidator:
    def check(value: Any) -> int:
        number = _number(value)
        if not number.is_integer() or not low <= number <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return int(number)

    return BeforeValidator(check)


def _ratio(value: Any) -> float:
    if isinstance(value, str) and value.strip().endswith("%"):
        number = _number(value.strip()[:-1]) / 100
    else:
        number = _number(value)
    if not 0 <= number <= 1:
        raise ValueError("expected a ratio from 0 to 1, e.g. 0.01 (or 1%)")
    return number


_DURATION_SCHEMA = {
    "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h)?$"}]
}

Duration = Annotated[float, BeforeValidator(seconds), _or_variable(_DURATION_SCHEMA), Kind("duration")]
Timeout = Annotated[
    float,
    BeforeValidator(timeout_seconds),
    _or_variable({**_DURATION_SCHEMA, "description": f"more than 0s, at most {MAX_TIMEOUT_S:g}s"}),
    Kind(f"timeout (duration, at most {MAX_TIMEOUT_S:g}s)"),
]
Milliseconds = Annotated[
    float, BeforeValidator(_non_negative), _or_variable({"type": "number", "minimum": 0}), Kind("milliseconds")
]
Ratio = Annotated[
    float,
    BeforeValidator(_ratio),
    _or_variable({"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "string", "pattern": "%$"}]}),
    Kind("ratio 0..1 (or N%)"),
]


def _confidence(value: Any) -> float:
    number = _ratio(value)
    if not 0.5 <= number < 1:
        raise ValueError("expected a confidence from 0.5 to below 1, e.g. 0.95 (or 95%)")
    return number


Confidence = Annotated[
    float,
    BeforeValidator(_confidence),
    _or_variable(
        {"anyOf": [{"type": "number", "minimum": 0.5, "exclusiveMaximum": 1}, {"type": "string", "pattern": "%$"}]}
    ),
    Kind("confidence 0.5..<1 (or N%)"),
]
Count = Annotated[int, _integer(0, 10**9), _or_variable({"type": "integer", "minimum": 0}), Kind("count")]
Port = Annotated[
    int, _integer(1, 65535), _or_variable({"type": "integer", "minimum": 1, "maximum": 65535}), Kind("port")
]
HttpStatus = Annotated[
    int, _integer(100, 599), _or_variable({"type": "integer", "minimum": 100, "maximum": 599}), Kind("HTTP status")
]
Flag = Annotated[bool, _or_variable({"type": "boolean"}), Kind("true/false")]
LatencyMs = Annotated[
    int, _integer(0, 60_000), _or_variable({"type": "integer", "minimum": 0, "maximum": 60_000}), Kind("milliseconds")
]
RequestsPerSecond = Annotated[
    int, _integer(0, 1000), _or_variable({"type": "integer", "minimum": 0, "maximum": 1000}), Kind("requests/s")
]


_CPU = re.compile(r"^(?P<number>\d+(\.\d+)?)(?P<milli>m)?$")
_MEMORY = re.compile(r"^(?P<number>\d+(\.\d+)?)(?P<unit>[KMGT]i?)?$")
_MEMORY_UNITS = {None: 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
_MEMORY_UNITS["Ti"] = 2**40


def _cpu_cores(value: Any) -> float:
    match = _CPU.match(str(value)) if not isinstance(value, bool) else None
    if not match:
        raise ValueError("expected CPU cores as Kubernetes writes them: 0.5, 2 or 500m")
    return float(match["number"]) / (1000 if match["milli"] else 1)


def _memory_bytes(value: Any) -> int:
    match = _MEMORY.match(str(value)) if not isinstance(value, bool) else None
    if not match:
        raise ValueError("expected memory as Kubernetes writes it: 512Mi, 2Gi or a number of bytes")
    return int(float(match["number"]) * _MEMORY_UNITS[match["unit"]])


CpuCores = Annotated[
    float, BeforeValidator(_cpu_cores), WithJsonSchema({"type": ["number", "string"]}), Kind("CPU cores (500m)")
]
MemoryBytes = Annotated[
    int, BeforeValidator(_memory_bytes), WithJsonSchema({"type": ["integer", "string"]}), Kind("bytes (512Mi)")
]
