"""The shared writer (`kit.writer`): a serving process's warnings written by another process's
group commit, answered exactly as if written here; and written here when the writer cannot be
reached, or goes away before it answers, without ever a second warning."""

from __future__ import annotations

import asyncio
import pickle
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from quanzu.dispatch.live import LiveHub
from quanzu.kit.db import make_engine
from quanzu.kit.errors import FieldError, ValidationFailed
from quanzu.kit.groupcommit import GroupCommit
from quanzu.kit.runtime import Runtime
from quanzu.kit.writer import RETRY_AFTER, WriterClient, WriterProcess, WriterServer, _portable, works
from quanzu.models.cases import EarlyWarning
from quanzu.models.org import User
from quanzu.web.edge import AppState
from tests.conftest import Env
from tests.escalation.test_black_box import wait_for
from tests.factories import bearer, id_number, seed, warning


def _writer_runtime(env: Env) -> Runtime:
    """What `quanzu writer` builds: the clock, the cipher and the policy; no hub or index."""
    return Runtime(clock=env.clock, cipher=env.rt.cipher, policy=env.rt.policy)


class _LoopThread:
    """A writer's event loop on a thread of its own, as its own process would run it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@contextmanager
def _writer(env: Env, path: Path, kind: type[WriterServer] = WriterServer) -> Iterator[WriterServer]:
    thread = _LoopThread()
    server = kind(GroupCommit(env.factory), _writer_runtime(env), path)
    thread.run(server.start())
    try:
        yield server
    finally:
        thread.run(server.close())
        thread.stop()


@contextmanager
def _through(env: Env, path: Path) -> Iterator[WriterClient]:
    """The app's intake goes to the writer at `path` meanwhile."""
    state: AppState = env.app.state.quanzu
    state.writes.remote = client = WriterClient(path, env.clock)
    try:
        yield client
    finally:
        state.writes.remote = None
        assert env.client.portal is not None
        env.client.portal.call(client.close)


def _post(env: Env, token: str, body: dict[str, Any]) -> httpx.Response:
    response: httpx.Response = env.client.post("/api/v1/warnings", json=body, headers=bearer(token))
    return response


def _stored(env: Env, external_id: str) -> list[int]:
    with env.reader() as s:
        return list(s.scalars(select(EarlyWarning.id).where(EarlyWarning.external_id == external_id)))


def test_warnings_written_by_the_writer_are_answered_as_if_written_here(env: Env, tmp_path: Path) -> None:
    district = seed(env)
    path = tmp_path / "writer.sock"
    with _writer(env, path) as writer, _through(env, path):
        first = _post(env, district.feed_token, warning("SW-1"))
        assert first.status_code == 201, first.text
        assert _stored(env, "SW-1") == [first.json()["warning_id"]]
        replay = _post(env, district.feed_token, warning("SW-1"))
        assert (replay.status_code, replay.json()) == (200, first.json())
        conflict = _post(env, district.feed_token, {**warning("SW-1"), "description": "另一段内容"})
        assert conflict.status_code == 409  # the service's Conflict, raised in the writer
        refused = _post(env, district.bank_token, warning("SW-2"))
        assert refused.status_code == 403 and _stored(env, "SW-2") == []
        merged = _post(env, district.feed_token, warning("SW-3"))  # the same person: their open case
        assert merged.status_code == 200 and merged.json()["case_id"] == first.json()["case_id"]
        batch = env.client.post(
            "/api/v1/warnings/batch",
            json={"warnings": [warning("SW-4", target={"name": "李四", "id_number": id_number(seq="456")})]},
            headers=bearer(district.feed_token),
        )
        assert [item["status"] for item in batch.json()["results"]] == [201]
        assert writer.jobs == 6  # every call above went through the writer
    assert path.exists() is False  # the writer removes its socket when it stops


async def _subscribed(hub: LiveHub, user_ids: list[int]) -> list[asyncio.Queue[dict[str, Any]]]:
    return [hub.subscribe(user_id) for user_id in user_ids]


async def _events(queues: list[asyncio.Queue[dict[str, Any]]], wanted: int) -> list[dict[str, Any]]:
    """The first `wanted` events on any of the queues (bounded: a missing event fails the test)."""
    events: list[dict[str, Any]] = []
    while len(events) < wanted:
        done, pending = await asyncio.wait(
            [asyncio.ensure_future(q.get()) for q in queues], timeout=20, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        assert done, f"no live event after {events}"
        events += [task.result() for task in done]
    return events


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_what_the_writer_commits_reaches_the_serving_processes_live_streams(env: Env, tmp_path: Path) -> None:
    """The writer has no live hub of its own: its events go out with its commit (NOTIFY) and
    every serving process hands them to its own subscribers."""
    district = seed(env)
    path = tmp_path / "writer.sock"
    state: AppState = env.app.state.quanzu
    with env.reader() as s:
        everyone = list(s.scalars(select(User.id)))
    assert env.client.portal is not None
    queues = env.client.portal.call(_subscribed, state.hub, everyone)
    with _writer(env, path) as writer, _through(env, path):
        case_id = _post(env, district.feed_token, warning("SW-1")).json()["case_id"]
        assert writer.jobs == 1
    events = env.client.portal.call(_events, queues, 1)
    assert {(e["type"], e["case_id"]) for e in events} == {("case.dispatched", case_id)}, events


def test_the_writers_socket_is_its_users_alone(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "writer.sock"
    with _writer(env, path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_serving_process_writes_here_while_the_writer_cannot_be_reached(env: Env, tmp_path: Path) -> None:
    district = seed(env)
    path = tmp_path / "writer.sock"
    with _through(env, path):
        assert _post(env, district.feed_token, warning("SW-1")).status_code == 201  # nobody listens yet
        assert _stored(env, "SW-1") != []
        with _writer(env, path) as writer:
            second = warning("SW-2", target={"name": "李四", "id_number": id_number(seq="456")})
            assert _post(env, district.feed_token, second).status_code == 201
            assert writer.jobs == 0  # not tried again within RETRY_AFTER of the failure
            env.clock.advance(RETRY_AFTER + timedelta(milliseconds=1))
            third = warning("SW-3", target={"name": "王五", "id_number": id_number(seq="789")})
            assert _post(env, district.feed_token, third).status_code == 201
            assert writer.jobs == 1
    assert len(_stored(env, "SW-2")) == len(_stored(env, "SW-3")) == 1


class _HangsUpAfterCommit(WriterServer):
    """Commits the jobs, then loses the connection before it answers."""

    async def _answer(
        self, writer: asyncio.StreamWriter, lock: asyncio.Lock, request_id: int, jobs: Any
    ) -> None:
        await self.commits.submit_group(works(jobs, self.rt))
        self.jobs += len(jobs)
        writer.transport.abort()


def test_a_lost_answer_is_written_again_here_as_a_replay_never_a_second_warning(
    env: Env, tmp_path: Path
) -> None:
    district = seed(env)
    path = tmp_path / "writer.sock"
    with _writer(env, path, _HangsUpAfterCommit) as writer, _through(env, path):
        answer = _post(env, district.feed_token, warning("SW-1"))
        assert writer.jobs == 1  # the writer committed it …
        assert answer.status_code == 200, answer.text  # … so here it is a replay, with its ids
        assert _stored(env, "SW-1") == [answer.json()["warning_id"]]


def _travelled(thing: object) -> Any:
    return pickle.loads(pickle.dumps(thing))  # noqa: S301  (our own bytes)


def test_what_a_job_raises_travels_back_whole_or_as_its_name() -> None:
    refused = ValidationFailed([FieldError("target.phone", "不是有效的手机号")])
    back = _travelled(_portable(refused))
    assert type(back) is ValidationFailed and back.errors == refused.errors and back.status_code == 422

    class Local(Exception):  # not importable by name: cannot be pickled
        pass

    unpicklable = _portable(Local("boom"))
    assert type(unpicklable).__name__ == "_Unpicklable" and "Local: boom" in str(unpicklable)
    assert _travelled(unpicklable).args == unpicklable.args


def test_serve_starts_its_writer_again_after_a_crash_not_after_a_clean_stop() -> None:
    crashing = WriterProcess([sys.executable, "-c", "raise SystemExit(3)"], restart_pause_s=0)
    crashing.start()
    try:
        wait_for("the crashed writer to be started again", lambda: crashing.starts >= 3)
    finally:
        crashing.stop()
    wait_for("the watch to end with the stop", lambda: not crashing.watching())
    stopping = WriterProcess([sys.executable, "-c", "pass"], restart_pause_s=0)  # exit 0: told to stop
    stopping.start()
    wait_for("the watch to end", lambda: not stopping.watching())
    assert stopping.starts == 1


@pytest.mark.postgres_only
def test_the_writers_connections_plan_their_statements_once(env: Env) -> None:
    """The writer runs intake's few statements only: planned once (`generic_plans`), where
    PostgreSQL kept planning the lookups by arrays of keys on every call. Other processes plan as
    PostgreSQL decides."""
    for generic, expected in ((True, "force_generic_plan"), (False, "auto")):
        engine = make_engine(env.settings.database_url, generic_plans=generic)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SHOW plan_cache_mode")).scalar_one() == expected
        finally:
            engine.dispose()
