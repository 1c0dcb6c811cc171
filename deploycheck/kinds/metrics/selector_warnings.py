"""What `python -m deploycheck validate` can tell about selectors without asking anything: the ones that are likely
to match nothing once asked (where a run would be inconclusive). Warnings, not errors: the file is valid."""

from __future__ import annotations

from deploycheck.config.loader import Environment

CADVISOR_PREFIX = "container_"  # cAdvisor's series: labelled namespace, pod, container; never service


def selector_warnings(environment: Environment) -> list[str]:
    warnings = []
    alerts_apply = environment.alertmanager is not None or environment.prometheus is not None
    for name, service in environment.services.items():
        if alerts_apply and (service.alerts is None or service.alerts.selector is None):
            warnings.append(
                f'services.{name}.alerts.selector is not set: alerts are matched by service="{name}", a label most '
                "rule sets do not keep, and the check is inconclusive while no alert can carry it; give a label your "
                f"alerts carry, e.g. alerts: {{selector: 'job=\"{name}\"'}}"
            )
        resources = service.resources
        if resources is None or resources.selector is not None:
            continue
        if any(metric.startswith(CADVISOR_PREFIX) for metric in (resources.cpu_metric, resources.memory_metric)):
            warnings.append(
                f"services.{name}.resources reads cAdvisor's container series, which carry namespace, pod and "
                "container labels rather than the metric selector's: give resources.selector, e.g. "
                f'\'namespace="...", pod=~"{name}-.*", container="{name}"\''
            )
    return warnings
