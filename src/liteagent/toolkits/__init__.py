"""Per-user toolkits: configuration by chat, encrypted credentials, interception.

See ``docs/toolkits.md``. Built in: ``jira`` (``JiraConfig``), ``gitlab`` (``GitLabConfig``),
``gdrive`` (``GoogleDriveConfig``); plugins register under the ``liteagent.toolkits`` entry
points.
"""

from liteagent.toolkits.base import (
    BaseToolkitConfig,
    ConfigOutcome,
    TokenToolkitConfig,
    ToolkitError,
    toolkit_registry,
)
from liteagent.toolkits.gdrive import GoogleDriveConfig
from liteagent.toolkits.gitlab import GitLabConfig
from liteagent.toolkits.interception import (
    REMOVED,
    GateResult,
    ToolkitGate,
    scrub_messages,
    scrub_text,
)
from liteagent.toolkits.jira import JiraConfig
from liteagent.toolkits.service import ToolkitService, get_toolkit_service, use_toolkit_service
from liteagent.toolkits.store import (
    CredentialBackend,
    DatabaseCredentialBackend,
    MemoryCredentialBackend,
    TokenStorage,
)

__all__ = [
    "REMOVED",
    "BaseToolkitConfig",
    "ConfigOutcome",
    "CredentialBackend",
    "DatabaseCredentialBackend",
    "GateResult",
    "GitLabConfig",
    "GoogleDriveConfig",
    "JiraConfig",
    "MemoryCredentialBackend",
    "TokenStorage",
    "TokenToolkitConfig",
    "ToolkitError",
    "ToolkitGate",
    "ToolkitService",
    "get_toolkit_service",
    "scrub_messages",
    "scrub_text",
    "toolkit_registry",
    "use_toolkit_service",
]
