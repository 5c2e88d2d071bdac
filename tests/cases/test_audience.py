"""Who hears about a case, for many cases in one query: assignees first, then the station's
people on shift, its leads, and the centre where asked or where no station holds the case."""

from __future__ import annotations

from sqlalchemy import select

from quanzu.cases.repository import audiences
from quanzu.models.cases import Case
from quanzu.models.org import User
from tests.cases.test_access import two_cases
from tests.conftest import Env
from tests.factories import bearer, id_number, warning

# Out of the district by address and by phone: the centre's triage.
ELSEWHERE = {
    "address": "广东省江门市开平市长沙街道",
    "phone": "+8613800000000",
    "id_number": id_number("19700101"),
}


def test_audiences_of_several_cases_in_one_call(env: Env) -> None:
    district, sz_case, sl_case = two_cases(env)
    r = env.client.post(
        "/api/v1/warnings", json=warning("ELSE-1", target=ELSEWHERE), headers=bearer(district.feed_token)
    )
    triage_case = r.json()["case_id"]
    with env.factory() as s:
        names = {uid: name for uid, name in s.execute(select(User.id, User.username)).all()}
        cases = [s.get_one(Case, cid) for cid in (sz_case, sl_case, triage_case)]
        assert cases[2].station_id is None
        now = env.clock.now()

        def who(**kw: object) -> dict[int, list[str]]:
            got = audiences(s, cases, **kw)  # type: ignore[arg-type]
            return {cid: [names[u] for u in ids] for cid, ids in got.items()}

        leaders = who(on_shift="leaders", at=now)
        everyone = who(on_shift="all", at=now, centre=True)
    # 14:00 local: SL's day shift is on; SZ is staffed around the clock.
    assert leaders[sz_case] == ["sz-leader", "sz-d1"]  # assignees, then (already listed) leads
    assert leaders[sl_case] == ["sl-leader-day", "sl-d1", "sl-d2", "sl-chief", "sl-leader-night"]
    assert leaders[triage_case] == ["centre"]  # no station: the centre, and only it
    assert everyone[sl_case][-1] == "centre" and "sl-d3" not in everyone[sl_case]  # night shift is off
    assert "sl-chief" not in everyone[sz_case]  # another station's leads never hear
