"""CreateService keeps its capacity-provider strategy, as ECS does.

moto 5.2.5 drops ``capacityProviderStrategy`` on CreateService and shows the service
as ``launchType: EC2``; ECS shows the strategy (on the service and its primary
deployment) and no launch type. Cost analysis needs the strategy to know a service's
Spot share.
"""

from __future__ import annotations

import threading
from typing import Any

_local = threading.local()


def apply() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.ecs.responses import EC2ContainerServiceResponse

    original_response = EC2ContainerServiceResponse.create_service
    original_backend = EC2ContainerServiceBackend.create_service

    def create_service_response(self: Any) -> Any:
        _local.strategy = self._get_param("capacityProviderStrategy")
        _local.launch_type = self._get_param("launchType")
        try:
            return original_response(self)
        finally:
            _local.strategy = _local.launch_type = None

    def create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
        service = original_backend(self, *args, **kwargs)
        strategy = getattr(_local, "strategy", None)
        if strategy:
            service.capacity_provider_strategy = strategy
            if not getattr(_local, "launch_type", None):
                service.launch_type = None
            for deployment in service.deployments:
                deployment["capacityProviderStrategy"] = strategy
                deployment.pop("launchType", None)
        return service

    EC2ContainerServiceResponse.create_service = create_service_response
    EC2ContainerServiceBackend.create_service = create_service
