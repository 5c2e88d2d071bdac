"""What the benchmarks share: the PostgreSQL they run on, the machine they report, free ports."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from pathlib import Path

import psycopg

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def ensure_postgres() -> None:
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError:
        script = Path(__file__).resolve().parent.parent / "scripts" / "ensure-services.sh"
        subprocess.run([str(script)], check=True)  # noqa: S603  (our own script)


def postgres_version() -> str:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"
    except psycopg.Error:
        return "not reachable"


def machine() -> str:
    model = "?"
    with Path("/proc/cpuinfo").open() as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"PostgreSQL {postgres_version()}, {platform.system()} {platform.release()}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
