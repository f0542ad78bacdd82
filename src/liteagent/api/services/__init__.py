"""The seeds' services: the API's business rules, below the routes and above the stores."""

from liteagent.api.services.agent_service import AgentService
from liteagent.api.services.context import ApiContext
from liteagent.api.services.datasource_service import DataSourceService
from liteagent.api.services.provider_service import ProviderService

__all__ = ["AgentService", "ApiContext", "DataSourceService", "ProviderService"]
