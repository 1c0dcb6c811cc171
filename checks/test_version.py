"""The served version is the one just deployed."""

import pytest

from deploycheck.kinds.http import rules


def test_matches_expected(target, version, verify):
    if not target.expected_version:
        pytest.skip("no expected version: pass --expected-version or set EXPECTED_VERSION")
    verify(rules.version(version, target.service.version, target.expected_version))
