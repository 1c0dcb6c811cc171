"""The kubernetes kind's sections: `kubernetes`, the cluster (environment level) and each service's workload."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from deploycheck.config.types import (
    FilePath,
    Flag,
    KubernetesName,
    Section,
    Text,
)


class KubernetesCluster(Section):
    """How to reach the cluster (environment level): a kubeconfig and context, or the pod's service account."""

    kubeconfig: FilePath | None = Field(
        default=None, description="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    context: Text | None = Field(default=None, description="kubeconfig context", examples=["production"])
    namespace: KubernetesName | None = Field(
        default=None, description="default namespace of the services", examples=["prod"]
    )
    in_cluster: Flag = Field(default=False, description="use the service account of the pod the suite runs in")

    @model_validator(mode="after")
    def _in_cluster_or_kubeconfig(self) -> Self:
        if self.in_cluster and (self.kubeconfig is not None or self.context is not None):
            raise ValueError("`in_cluster: true` uses the pod's service account: leave `kubeconfig` and `context` out")
        return self


class KubernetesWorkload(Section):
    """The service's workload in the cluster (service level)."""

    deployment: KubernetesName | None = Field(default=None, description="Deployment name", examples=["api-gateway"])
    statefulset: KubernetesName | None = Field(default=None, description="StatefulSet name (instead of `deployment`)")
    container: KubernetesName | None = Field(default=None, description="container to check (default: all)")
    selector: Text | None = Field(default=None, description="label selector of its pods", examples=["app=api-gateway"])
    namespace: KubernetesName | None = Field(default=None, description="namespace (default: the cluster's `namespace`)")

    @model_validator(mode="after")
    def _one_workload(self) -> Self:
        if self.deployment is not None and self.statefulset is not None:
            raise ValueError("give `deployment` or `statefulset`, not both")
        if self.deployment is None and self.statefulset is None and self.selector is None:
            raise ValueError("give `deployment`, `statefulset` or a label `selector`")
        return self
