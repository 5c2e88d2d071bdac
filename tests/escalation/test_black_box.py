"""Black box: a real `quanzu serve` process (embedded worker, wall clock) with a 2-second sign
deadline. An unsigned case climbs to tier 2 within seconds and stops when acknowledged. The test
polls for events with a generous limit; it asserts on what happened, never on how long it took."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.factories import ORG, bearer, roster, warning

QUANZU = str(Path(sys.executable).with_name("quanzu"))
POLL_LIMIT_S = 60.0


def fast_policy() -> dict[str, Any]:
    from importlib import resources

    policy: dict[str, Any] = yaml.safe_load(
        (resources.files("quanzu.policy") / "default.yaml").read_text("utf-8")
    )
    for level in policy["sla"]:
        policy["sla"][level]["sign"] = 2
        policy["escalation"]["wait"][level] = 2  # leaves the acknowledgement two seconds
    return policy


def wait_for(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + POLL_LIMIT_S
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)  # polling for an event, not asserting a duration
    pytest.fail(f"gave up waiting for {what}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    db = tmp_path / "bb.sqlite3"
    env = {
        **os.environ,
        "QUANZU_DATABASE_URL": f"sqlite:///{db}",
        "QUANZU_DATA_DIR": str(tmp_path),
        "QUANZU_PII_KEY_FILE": str(tmp_path / "pii.key"),
        "QUANZU_POLICY_FILE": str(tmp_path / "policy.yaml"),
    }
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(fast_policy()), encoding="utf-8")
    now = datetime.now(UTC)
    org = {
        **ORG,
        "roster": roster(now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1))
        + roster(now.replace(hour=0, minute=0, second=0, microsecond=0)),
    }
    (tmp_path / "org.yaml").write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")

    def cli(*args: str) -> str:
        done = subprocess.run(
            [QUANZU, *args], env=env, cwd=tmp_path, capture_output=True, text=True, check=True, timeout=120
        )
        return done.stdout.strip()

    cli("db", "upgrade")
    cli("org", "import", str(tmp_path / "org.yaml"))
    tokens = {
        "feed": cli("client", "add", "feed", "--role", "feed").splitlines()[-1],
        "b1-squad": cli("token", "create", "b1-squad").splitlines()[-1],
    }
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [QUANZU, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the server", lambda: _up(url))
        yield url, tokens, db
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def test_unsigned_case_climbs_to_tier_2_and_stops_when_acknowledged(
    server: tuple[str, dict[str, str], Path],
) -> None:
    url, tokens, db = server
    with httpx.Client(base_url=url, timeout=10, trust_env=False) as c:
        body = warning(
            "BB-1",
            issued_at=datetime.now(UTC).isoformat(),
            target={"address": "江苏省苏州市吴江区松陵街道流虹路88号"},
        )
        case_id = c.post("/api/v1/warnings", json=body, headers=bearer(tokens["feed"])).json()["case_id"]

        def case() -> Any:
            return c.get(f"/api/v1/cases/{case_id}", headers=bearer(tokens["b1-squad"])).json()

        wait_for("tier 2", lambda: case()["tier"] >= 2)
        acked = c.post(f"/api/v1/cases/{case_id}/acknowledge", headers=bearer(tokens["b1-squad"]))
        assert acked.status_code == 200, acked.text
        tier_at_ack = acked.json()["tier"]
        assert tier_at_ack == 2
        # The next rung's timer comes due a second later; wait until the worker has fired it …
        with sqlite3.connect(db) as conn:
            query = (
                "SELECT outcome FROM timers WHERE kind = 'escalation' AND subject_id = ? "
                "AND key = '3' AND fired_at IS NOT NULL"  # rung 3, the centre
            )
            outcome = wait_for(
                "the next rung to fire", lambda: (conn.execute(query, (case_id,)).fetchone() or [None])[0]
            )
        # … and see that it did nothing: the climb stopped at the tier that acknowledged.
        assert outcome == "stale"
        final = case()
        assert final["tier"] == 2 and final["escalation"]["state"] == "acknowledged"
        assert [e["data"]["tier"] for e in final["timeline"] if e["kind"] == "escalated"] == [1, 1, 2]
