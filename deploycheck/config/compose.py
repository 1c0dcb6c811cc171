"""The sections of kinds from outside the suite (a team's `conftest.py`, a pip plugin), composed into the model:
validated like the built-in ones, in the JSON Schema (`python -m deploycheck schema`) and in `validate`, and read
as `service.section(name)`. With none plugged, the models are the built-in ones, unchanged."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, create_model

from deploycheck.config.model import (
    ENVIRONMENT_SECTIONS,
    SERVICE_SECTIONS,
    EnvironmentFile,
    EnvironmentShape,
    ServiceSpec,
)
from deploycheck.config.types import ServiceName


@dataclass(frozen=True)
class PluggedSection:
    name: str
    model: Any  # a pydantic model (`deploycheck.config.types.Section` keeps its keys strict) or dataclass
    level: Literal["service", "environment"] = "service"
    description: str = ""


PLUGGED: dict[str, PluggedSection] = {}
_TAKEN = {*SERVICE_SECTIONS, *ENVIRONMENT_SECTIONS, *ServiceSpec.model_fields, *EnvironmentFile.model_fields}


def plug(section: PluggedSection) -> None:
    if section.name in _TAKEN:
        raise ValueError(f"section {section.name!r} is the suite's own: a kind from outside names its own sections")
    PLUGGED[section.name] = section


def plugged(level: str) -> tuple[str, ...]:
    return tuple(name for name, section in PLUGGED.items() if section.level == level)


def service_spec() -> type[ServiceSpec]:
    return _composed(tuple(PLUGGED.values()))[0]


def environment_shape() -> type[EnvironmentShape]:
    return _composed(tuple(PLUGGED.values()))[1]


def environment_file() -> type[EnvironmentFile]:
    return _composed(tuple(PLUGGED.values()))[2]


@functools.lru_cache(maxsize=8)
def _composed(
    sections: tuple[PluggedSection, ...],
) -> tuple[type[ServiceSpec], type[EnvironmentShape], type[EnvironmentFile]]:
    if not sections:
        return ServiceSpec, EnvironmentShape, EnvironmentFile

    def fields(level: str) -> dict[str, Any]:
        return {
            section.name: (section.model | None, Field(default=None, description=section.description))
            for section in sections
            if section.level == level
        }

    spec: Any = create_model("ServiceSpec", __base__=ServiceSpec, **fields("service"))
    shape: Any = create_model("EnvironmentShape", __base__=EnvironmentShape, **fields("environment"))
    whole: Any = create_model(
        "EnvironmentFile",
        __base__=EnvironmentFile,
        services=(dict[ServiceName, spec | None], EnvironmentFile.model_fields["services"]),
        defaults=(spec | None, EnvironmentFile.model_fields["defaults"]),
        **fields("environment"),
    )
    return spec, shape, whole
