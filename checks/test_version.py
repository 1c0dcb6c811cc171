"""The served version is the one just deployed."""

import pytest

from deploycheck import judge


@pytest.mark.probe("version")
def test_matches_expected(target, verify):
    spec = target.require("version")
    if not target.expected_version:
        pytest.skip("no expected version: pass --expected-version or set EXPECTED_VERSION")
    verify(judge.version(target.evidence("version"), spec, target.expected_version))
