"""Test plumbing: every test runs on SQLite and on PostgreSQL, each worker with its own
databases migrated by Alembic from blank, tables emptied between tests; time is a FakeClock."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

import quanzu.models  # noqa: F401
from quanzu.app import create_app
from quanzu.config import Settings
from quanzu.kit.clock import FakeClock
from quanzu.kit.db import Base
from quanzu.kit.migrate import upgrade
from quanzu.kit.runtime import Runtime
from quanzu.web.edge import AppState
from tests.receivers import closed_port, receiver  # noqa: F401  (fixtures for every test module)

PG_ADMIN_URL = os.environ.get("QUANZU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_PII_KEY = "q3xQ0ZCw1cQd8Zb3m0aQ3L5p0YbX9b2h8cZ1s6T4u7w="  # test-only key
START = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)  # 14:00 in Suzhou


_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID", uuid.uuid4().hex)[:8]


def _worker() -> str:
    """Unique per test run and worker: two runs on one PostgreSQL never drop each other's database."""
    return f"{_RUN}_{os.environ.get('PYTEST_XDIST_WORKER', 'gw0')}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh copy of the migrated template per test: cheap, and nothing to clean up."""
    path = tmp_path / "quanzu.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    name = f"quanzu_test_{_worker()}"
    admin = create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    if request.node.get_closest_marker("postgres_only") and request.param != "postgresql":
        pytest.skip("PostgreSQL-only behaviour")
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@dataclass
class Env:
    app: FastAPI
    client: TestClient
    clock: FakeClock
    factory: sessionmaker[Session]
    reader: sessionmaker[Session]  # for the tests' own look-ups: never blocks the app's writers
    rt: Runtime
    settings: Settings

    @property
    def is_postgres(self) -> bool:
        return self.settings.database_url.startswith("postgresql")


def _empty_postgres(factory: sessionmaker[Session]) -> None:
    """TRUNCATE (which row triggers such as the append-only guards do not see) between tests."""
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with factory() as session:
        session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        session.commit()


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Iterator[Env]:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        pii_key=SecretStr(TEST_PII_KEY),
        embedded_worker=False,
        db_pool_size=5,
    )
    clock = FakeClock(START)
    app = create_app(settings, clock)
    state: AppState = app.state.quanzu
    if database_url.startswith("postgresql"):
        _empty_postgres(state.factory)
    with TestClient(app, base_url="http://testserver") as client:
        yield Env(
            app=app,
            client=client,
            clock=clock,
            factory=state.factory,
            reader=state.reader,
            rt=state.rt,
            settings=settings,
        )
    state.engine.dispose()


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server


@pytest.fixture
def live_server(env: Env) -> Iterator[LiveServer]:
    """The same app on a real socket (127.0.0.1, ephemeral port) for concurrency and streaming."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(env.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    ready = threading.Event()
    for _ in range(500):
        if server.started:
            ready.set()
            break
        threading.Event().wait(0.01)  # polling for readiness, not a timing assertion
    assert ready.is_set(), "server did not start"
    yield LiveServer(url=f"http://127.0.0.1:{port}", server=server)
    server.should_exit = True
    thread.join(timeout=10)
