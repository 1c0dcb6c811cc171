"""A thin shim over Allure: labels and attachments when allure-pytest is installed, nothing otherwise."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

allure: ModuleType | None
try:
    import allure
except ImportError:  # allure-pytest is a dependency, but the suite must not break without it
    allure = None


def label(environment: str, service: str | None, check: str) -> None:
    if allure is None:
        return
    allure.dynamic.parent_suite(environment)
    allure.dynamic.suite(service or "environment")
    allure.dynamic.feature(check.split(".", 1)[0])
    allure.dynamic.story(check)
    allure.dynamic.tag(environment, service or "environment")


def attach_finding(finding: dict[str, Any]) -> None:
    if allure is None:
        return
    allure.attach(
        json.dumps(finding, indent=2, default=str),
        name=f"finding {finding['check']}: {finding['outcome']}",
        attachment_type=allure.attachment_type.JSON,
    )
