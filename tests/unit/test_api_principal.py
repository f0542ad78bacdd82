"""Who a LiteLLM key stands for in the management API (``principal_from_key``), from the
``UserAPIKeyAuth`` objects LiteLLM's ``user_api_key_auth`` returns, and who may see what."""

from __future__ import annotations

from litellm.constants import LITELLM_PROXY_MASTER_KEY_ALIAS
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

from liteagent.api import Principal
from liteagent.api.proxy_mount import principal_from_key


def test_the_master_key_is_an_admin() -> None:
    key = UserAPIKeyAuth(
        api_key=LITELLM_PROXY_MASTER_KEY_ALIAS,
        user_role=LitellmUserRoles.PROXY_ADMIN,
        user_id="default_user_id",
    )
    principal = principal_from_key(key)
    assert principal.is_admin and principal.can_access("team:anyone")


def test_a_team_key_acts_for_its_team_and_a_user_key_for_its_user() -> None:
    team = principal_from_key(
        UserAPIKeyAuth(token="h" * 64, team_id="t1", user_id="alice", user_role="internal_user")
    )
    assert (team.owner, team.is_admin) == ("team:t1", False)
    assert team.can_access("team:t1") and not team.can_access("team:t2")
    assert not team.can_access("user:alice")  # the team's resources, not the member's own
    user = principal_from_key(UserAPIKeyAuth(token="u" * 64, user_id="bob"))
    assert user.owner == "user:bob" and not user.can_access("team:t1")
    anonymous = principal_from_key(UserAPIKeyAuth(token="k" * 64))
    assert anonymous.owner == f"key:{'k' * 16}"
    assert not anonymous.can_access(None)


def test_principal_owner_prefers_team_then_user() -> None:
    assert Principal(subject="s", team_id="t", user_id="u").owner == "team:t"
    assert Principal(subject="s", user_id="u").owner == "user:u"
    assert Principal(subject="s").owner == "s"
