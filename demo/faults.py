"""Fault modes a demo service can be switched into, and their per-service state."""

from __future__ import annotations

from collections.abc import Iterable

WRONG_VERSION = "v0.0.0-wrong"
SLOW_EXTRA_SECONDS = 0.4
ERROR_EVERY = 5  # 20 %, deterministic so tests can count on it
REPORT_SLOW_SECONDS = 30.0  # `report_slow`: far past any flow's deadline, yet a report does finish

# mode -> what it does (shown by the CLI's --help and in error messages).
MODES: dict[str, str] = {
    "wrong_version": f"/version and /v1/version report {WRONG_VERSION}",
    "unhealthy": "/health and /v1/health answer 503 (ready/version unaffected)",
    "not_ready": "/ready and /v1/ready answer 503; health stays healthy",
    "slow": f"API and flow routes take {SLOW_EXTRA_SECONDS * 1000:.0f} ms longer",
    "errors": f"every {ERROR_EVERY}th API/flow request answers 500 (count restarts when set)",
    "down": "the service's port refuses connections (same port when cleared)",
    "crash_flow": "user-flow routes (login, orders, payments, reports) answer 500",
    "login_rejected": "logging in answers 401 even with valid credentials",
    "order_unreadable": "an order is created, but reading it back answers 404",
    "payment_declined": "POST /v1/payments answers 402 (card declined)",
    "payment_error": "POST /v1/payments answers 500",
    "report_slow": f"a report takes {REPORT_SLOW_SECONDS:.0f} s to finish",
    "report_empty": "a finished report has no rows",
    "delete_fails": "every DELETE (a flow's cleanup) answers 500",
}


class FaultError(ValueError):
    """An unknown fault mode was requested."""


def validate_modes(modes: Iterable[str]) -> frozenset[str]:
    """Return the modes as a set, or raise FaultError naming the unknown ones."""
    wanted = frozenset(m.strip() for m in modes if m.strip())
    unknown = sorted(wanted - MODES.keys())
    if unknown:
        raise FaultError(f"unknown fault mode(s) {', '.join(unknown)}; known: {', '.join(MODES)}")
    return wanted


class Faults:
    """The active fault modes of one service."""

    def __init__(self, modes: Iterable[str] = ()) -> None:
        self._modes = validate_modes(modes)
        self._error_counter = 0

    @property
    def modes(self) -> frozenset[str]:
        return self._modes

    def set(self, modes: Iterable[str]) -> frozenset[str]:
        """Replace the active modes (validated); restarts the `errors` count."""
        self._modes = validate_modes(modes)
        self._error_counter = 0
        return self._modes

    def __contains__(self, mode: str) -> bool:
        return mode in self._modes

    def next_request_fails(self) -> bool:
        """For `errors` mode: count one API request; True for every ERROR_EVERY-th."""
        if "errors" not in self._modes:
            return False
        self._error_counter += 1
        return self._error_counter % ERROR_EVERY == 0
