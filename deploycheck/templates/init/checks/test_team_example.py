"""An example of a team's own check, run beside deploycheck's built-in ones (check id team_example.health_is_fast).

A check names the evidence it needs as fixtures (`health`: the answer of the service's health endpoint) and
records one finding with `verify`: what was observed, against what limit, from which request. Evidence that
could not be gathered never passes: it makes the check inconclusive."""

from deploycheck.findings import Finding, Outcome

HEALTH_WITHIN_MS = 1000.0  # our health endpoints answer well under a second


def test_health_is_fast(target, health, verify):
    """The health endpoint answers within HEALTH_WITHIN_MS."""
    request = f"{health.source.get('method', 'GET')} {health.source.get('url', '')}"
    if not health.ok:
        verify(Finding(Outcome.INCONCLUSIVE, f"{request}: no answer to time: {health.error}", source=health.source))
        return
    outcome = Outcome.PASSED if health.elapsed_ms <= HEALTH_WITHIN_MS else Outcome.FAILED
    message = f"{request} answered in {health.elapsed_ms:.0f} ms, limit {HEALTH_WITHIN_MS:.0f} ms"
    verify(
        Finding(
            outcome,
            message,
            observed=round(health.elapsed_ms, 1),
            limit=HEALTH_WITHIN_MS,
            unit="ms",
            samples=1,
            source=health.source,
        )
    )
