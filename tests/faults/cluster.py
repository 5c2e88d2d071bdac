"""Real processes for the scale-out and fault drills: `quanzu serve` and `quanzu worker` as
subprocesses on 127.0.0.1 (free ports), a database of their own on the shared PostgreSQL, or a
throwaway PostgreSQL cluster that a drill may restart.

Everything waits by polling for an observable state with an explicit deadline (`wait_for`);
nothing sleeps to synchronise, and nothing asserts how long something took."""

from __future__ import annotations

import json
import os
import pwd
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from glob import glob
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg
import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr

from quanzu.app import create_app
from quanzu.auth import service as auth
from quanzu.banks import service as banks
from quanzu.codes import Role
from quanzu.config import Settings
from quanzu.kit.clock import SystemClock
from quanzu.kit.crypto import PiiCipher
from quanzu.kit.db import make_engine, make_sessionmaker, transaction
from quanzu.kit.migrate import upgrade
from quanzu.kit.runtime import Runtime
from quanzu.org.service import import_org
from tests.factories import ORG, bearer, id_number, roster, warning

QUANZU = str(Path(sys.executable).with_name("quanzu"))
PG_ADMIN_URL = os.environ.get("QUANZU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_PII_KEY = "q3xQ0ZCw1cQd8Zb3m0aQ3L5p0YbX9b2h8cZ1s6T4u7w="  # test-only key
# The most any single wait may take before the drill fails. Generous because a wait may include
# a process starting up, which took up to 100 s on a 2-core machine shared by several test runs;
# on an idle machine every wait ends within seconds. Only a failing drill ever reaches it.
DEADLINE_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(what: str, check: Callable[[], Any], limit_s: float = DEADLINE_S) -> Any:
    """Polls `check` until it returns something truthy; fails the test past the deadline."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)  # polling for a state, not timing anything
    pytest.fail(f"gave up waiting for {what} after {limit_s:.0f}s")


def fast_policy() -> dict[str, Any]:
    """The default policy with a 2-second sign deadline: a worker has timers to fire at once."""
    from importlib import resources

    policy: dict[str, Any] = yaml.safe_load(
        (resources.files("quanzu.policy") / "default.yaml").read_text("utf-8")
    )
    for level in policy["sla"]:
        policy["sla"][level]["sign"] = 2
    return policy


# --- databases ------------------------------------------------------------------------------------


@contextmanager
def shared_database() -> Iterator[str]:
    """A database of its own on the machine's PostgreSQL, dropped afterwards."""
    name = f"quanzu_fault_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _pg_bin(tool: str) -> str | None:
    found = sorted(glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    return found[-1] if found else shutil.which(tool)


class ThrowawayPostgres:
    """A PostgreSQL cluster of our own (initdb into a temporary directory, a free port), so a
    drill can restart the database without touching the machine's shared server. PostgreSQL
    refuses to run as root: as root, the cluster belongs to the `postgres` OS user."""

    def __init__(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self._initdb, self._pg_ctl = initdb, pg_ctl
        self._as: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None or not _user_exists("postgres"):
                pytest.skip("running as root without runuser or a postgres user: no PostgreSQL cluster")
            self._as = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="quanzu-pg-"))
        if self._as:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/quanzu"

    def _run(self, *cmd: str, timeout: float = DEADLINE_S) -> None:
        done = subprocess.run([*self._as, *cmd], capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        self._run(
            self._initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"
        )
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
        self._run(
            self._pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.dir / "pg.log"), "-w", "start"
        )
        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
            admin.execute("CREATE DATABASE quanzu")

    def restart(self, mode: str = "fast") -> None:
        # -l: the new postmaster must not inherit our pipes (we would wait for them forever).
        self._run(
            self._pg_ctl, "-D", str(self.data), "-m", mode, "-l", str(self.dir / "pg.log"), "-w", "restart"
        )

    def stop(self) -> None:
        try:
            self._run(self._pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


# --- the deployment -------------------------------------------------------------------------------


@dataclass
class Deployment:
    """One district on one database: configuration files, credentials, and the processes."""

    database_url: str
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)

    def serve(self, name: str, *, embedded_worker: bool = False, workers: int = 1) -> Proc:
        """A `quanzu serve` process, once it answers."""
        proc = self.spawn_server(name, embedded_worker=embedded_worker, workers=workers)
        proc.wait_healthy()
        return proc

    def spawn_server(self, name: str, *, embedded_worker: bool = False, workers: int = 1) -> Proc:
        """A `quanzu serve` process, started (several can start side by side: `wait_healthy`)."""
        port = free_port()
        extra = {"QUANZU_EMBEDDED_WORKER": "true" if embedded_worker else "false"}
        args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        proc = self._spawn(name, args, extra)
        proc.url = f"http://127.0.0.1:{port}"
        return proc

    @contextmanager
    def in_process(self) -> Iterator[TestClient]:
        """The app in the test's own process (no subprocess to start): for drills that need a
        server only to set the scene."""
        settings = Settings(
            database_url=self.database_url,
            data_dir=self.home,
            pii_key=SecretStr(TEST_PII_KEY),
            embedded_worker=False,
            db_pool_size=2,
            policy_file=Path(self.env["QUANZU_POLICY_FILE"]) if "QUANZU_POLICY_FILE" in self.env else None,
        )
        with TestClient(create_app(settings), base_url="http://testserver") as client:
            yield client

    def worker(self, name: str) -> Proc:
        return self._spawn(name, ["worker"], {})

    def _spawn(self, name: str, args: list[str], extra: dict[str, str]) -> Proc:
        log = (self.home / f"{name}.log").open("ab")
        popen = subprocess.Popen(
            [QUANZU, *args], env={**self.env, **extra}, cwd=self.home, stdout=log, stderr=subprocess.STDOUT
        )
        proc = Proc(name=name, popen=popen, log=log, log_path=self.home / f"{name}.log")
        self.procs.append(proc)
        return proc

    def post_warning(self, url: str, body: dict[str, Any], timeout: float = 10.0) -> httpx.Response:
        return httpx.post(
            f"{url}/api/v1/warnings",
            json=body,
            headers=bearer(self.tokens["feed"]),
            timeout=timeout,
            trust_env=False,
        )

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path
    url: str = ""

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_healthy(self) -> None:
        def healthy() -> bool:
            if not self.alive:
                pytest.fail(f"{self.name} exited with {self.popen.returncode}: {self.tail()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1, trust_env=False).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(f"{self.name} to serve", healthy)

    def kill9(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=DEADLINE_S)

    def stop(self) -> None:
        if self.alive:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def deployment(
    database_url: str, home: Path, *, policy: dict[str, Any] | None = None
) -> Iterator[Deployment]:
    """Migrates the database, imports the district (rosters around the wall clock), creates the
    feed's and the bank's clients and personal tokens; stops every process it started on exit."""
    env = {
        **os.environ,
        "QUANZU_DATABASE_URL": database_url,
        "QUANZU_DATA_DIR": str(home),
        "QUANZU_PII_KEY": TEST_PII_KEY,
        "QUANZU_DB_POOL_SIZE": "4",
    }
    if policy is not None:
        (home / "policy.yaml").write_text(yaml.safe_dump(policy), encoding="utf-8")
        env["QUANZU_POLICY_FILE"] = str(home / "policy.yaml")
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    org = {**ORG, "roster": roster(day - timedelta(days=1)) + roster(day) + roster(day + timedelta(days=1))}
    (home / "org.yaml").write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    dep = Deployment(database_url=database_url, home=home, env=env)
    # Set up in this process (each `quanzu` command costs seconds of imports on a busy machine).
    upgrade(database_url)
    engine = make_engine(database_url, pool_size=1)
    rt = Runtime(clock=SystemClock(), cipher=PiiCipher(TEST_PII_KEY))
    try:
        with transaction(make_sessionmaker(engine)) as session:
            import_org(session, rt, org)
            dep.tokens["feed"] = auth.create_client(session, rt, "feed", Role.FEED)
            bank, dep.tokens["bank_key"] = banks.register_bank(session, rt, "WJRCB", "吴江农商银行")
            dep.tokens["bank"] = auth.create_client(session, rt, "wjrcb", Role.BANK, bank_id=bank.id)
            for user in ("sl-d1", "sl-leader-day", "sz-d1", "sz-leader"):
                dep.tokens[user] = auth.create_personal_token(session, rt, user)
    finally:
        engine.dispose()
    try:
        yield dep
    finally:
        dep.stop_all()


def count_warnings(database_url: str, external_ids: list[str] | None = None) -> dict[str, int]:
    """external_id → how many warnings the database holds with it."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT external_id, count(*) FROM warnings GROUP BY external_id").fetchall()
    counts = {str(eid): int(n) for eid, n in rows}
    if external_ids is not None:
        return {eid: counts.get(eid, 0) for eid in external_ids}
    return counts


def distinct_warning(external_id: str, i: int, **overrides: Any) -> dict[str, Any]:
    """A warning about its own person (no merging, no shared lock), issued now."""
    birth = (datetime(1960, 1, 1, tzinfo=UTC) + timedelta(days=i)).strftime("%Y%m%d")
    target = {"name": f"测试{i}", "phone": f"139{i:08d}", "id_number": id_number(birth, f"{i % 1000:03d}")}
    target.update(overrides.pop("target", {}))
    return warning(external_id, issued_at=datetime.now(UTC).isoformat(), target=target, **overrides)


class LiveStream:
    """A user's server-sent event stream, read on a thread; `next_event` waits (bounded)."""

    def __init__(self, url: str, token: str) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.connected = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, token), daemon=True)
        self._thread.start()
        if not self.connected.wait(DEADLINE_S):
            pytest.fail(f"the live stream at {url} did not open")

    def _read(self, url: str, token: str) -> None:
        timeout = httpx.Timeout(DEADLINE_S, read=DEADLINE_S)
        try:
            with (
                httpx.Client(base_url=url, timeout=timeout, trust_env=False) as c,
                c.stream("GET", "/api/v1/events", headers=bearer(token)) as r,
            ):
                for line in r.iter_lines():
                    if self._closed.is_set():
                        return
                    if line.startswith(": connected"):
                        self.connected.set()
                    elif line.startswith("data: "):
                        self.events.put(json.loads(line.removeprefix("data: ")))
        except httpx.HTTPError:
            return

    def next_event(self, where: Callable[[dict[str, Any]], bool] = lambda e: True) -> dict[str, Any]:
        """The next event matching `where` (others are skipped); fails past the deadline."""
        deadline = time.monotonic() + DEADLINE_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                break
            if where(event):
                return event
        pytest.fail("no matching live event arrived")

    def until(self, where: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Every event up to and including the first matching `where`."""
        seen: list[dict[str, Any]] = []
        while True:
            seen.append(self.next_event())
            if where(seen[-1]):
                return seen

    def close(self) -> None:
        self._closed.set()
