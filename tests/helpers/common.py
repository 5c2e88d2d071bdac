"""Shared steps of the social-forces tests: a registry, a case at 松陵 with a messy employer."""

from __future__ import annotations

from typing import Any

from quanzu.auth.actor import Actor
from quanzu.codes import Role
from quanzu.helpers.registry import import_guards
from quanzu.kit.db import transaction
from tests.conftest import Env
from tests.factories import District, bearer, id_number, warning

ADMIN = Actor(kind="system", id=None, name="test-import", role=Role.ADMIN)
# The target works at 恒力 (written in full) and lives in 流虹社区.
TARGET = {
    "name": "张建国",
    "gender": "male",
    "phone": "13962510001",
    "id_number": id_number("19660606", "111"),
    "address": "江苏省苏州市吴江区松陵街道流虹社区鲈乡南路8号",
    "employer": "江苏恒力化纤股份有限公司",
}
GUARDS: list[dict[str, Any]] = [
    # the same employer written three other ways
    {
        "姓名": "李卫东",
        "手机号": "13800000001",
        "单位": "恒力集团",
        "社区": "三里桥社区",
        "培训": "是",
        "同意书": "是",
    },
    {
        "姓名": "王芳",
        "手机号": "13800000002",
        "单位": "恒力化纤（吴江）有限公司",
        "社区": "垂虹社区",
        "培训": "是",
        "同意书": "是",
    },
    {
        "姓名": "赵强",
        "手机号": "13800000003",
        "单位": "恒力集團",
        "社区": "笠泽社区",
        "培训": "否",
        "同意书": "是",
    },
    # same community, other employer
    {
        "姓名": "陈静",
        "手机号": "13800000004",
        "单位": "盛虹集团",
        "社区": "流虹社区居委会",
        "培训": "是",
        "同意书": "是",
    },
    # neither: a similar-looking but different enterprise, another community
    {
        "姓名": "周磊",
        "手机号": "13800000005",
        "单位": "亨通集团有限公司",
        "社区": "江兴社区",
        "培训": "是",
        "同意书": "是",
    },
    # inactive: never suggested
    {
        "姓名": "吴敏",
        "手机号": "13800000006",
        "单位": "恒力集团",
        "社区": "流虹社区",
        "培训": "是",
        "同意书": "是",
        "状态": "离职",
    },
]


def load_guards(env: Env, rows: list[dict[str, Any]] | None = None) -> None:
    with transaction(env.factory) as session:
        import_guards(session, env.rt, ADMIN, rows if rows is not None else GUARDS)


def open_case(env: Env, district: District, external_id: str = "H-0001", **overrides: Any) -> int:
    body = warning(external_id, target={**TARGET, **overrides.pop("target", {})}, **overrides)
    r = env.client.post("/api/v1/warnings", json=body, headers=bearer(district.feed_token))
    assert r.status_code == 201, r.text
    assert r.json()["station_code"] == "SL"
    case_id: int = r.json()["case_id"]
    return case_id


def api(env: Env, token: str, method: str, path: str, body: Any = None) -> Any:
    return env.client.request(method, f"/api/v1{path}", json=body, headers=bearer(token))


def candidates(env: Env, token: str, case_id: int) -> list[dict[str, Any]]:
    r = api(env, token, "GET", f"/cases/{case_id}/helpers")
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


def guard_id(found: list[dict[str, Any]], masked_name: str) -> int:
    [match] = [c["id"] for c in found if c["kind"] == "guard" and c["name"] == masked_name]
    return int(match)
