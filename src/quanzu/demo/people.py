"""Plausible synthetic people and 24×7 rosters for the demo district (nobody real)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from quanzu.org.schemas import OrgFile, ShiftIn, UserIn

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁沈任姚"
    "卢钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏飞斌宇浩凯健俊帆晨阳婷雪"
    "琳欣怡佳悦嘉文博宁晓东海波丹建国志辉亮鑫"
)
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
SHIFT_STARTS = (0, 8, 16)  # three eight-hour shifts a day, local time
DEMO_PASSWORD = "quanzu-demo-2026"  # printed by `demo load`; demo data only


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def mobile(rng: random.Random) -> str:
    # Prefixes that the phonenumbers geocoder places in Suzhou (checked in the tests).
    return rng.choice(("1386251", "1396251", "1377175", "1381552")) + f"{rng.randrange(10_000):04d}"


def add_people(org: OrgFile, rng: random.Random, start: datetime, days: int) -> OrgFile:
    """Adds centre, branch and station staff, and a roster from `start` (local midnight) for
    `days` days: each shift has one duty leader and two dissuaders from the station's teams."""
    users: list[UserIn] = [
        UserIn(
            username="centre",
            display_name="反诈中心值班员",
            role="centre",
            unit=org.centre.code,
            password=DEMO_PASSWORD,
        ),
        UserIn(username="centre2", display_name=person_name(rng), role="centre", unit=org.centre.code),
        UserIn(username="auditor", display_name=person_name(rng), role="auditor", unit=org.centre.code),
        UserIn(
            username="admin",
            display_name="系统管理员",
            role="admin",
            unit=org.centre.code,
            password=DEMO_PASSWORD,
        ),
    ]
    roster: list[ShiftIn] = []
    day0 = start.astimezone(LOCAL_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    for branch in org.branches:
        users.append(
            UserIn(
                username=f"{branch.code.lower()}-squad",
                display_name=person_name(rng),
                role="branch",
                unit=branch.code,
            )
        )
        for st in branch.stations:
            code = st.code.lower()
            team = st.teams[0].code if st.teams else st.code
            users.append(
                UserIn(
                    username=f"{code}-chief",
                    display_name=person_name(rng),
                    role="chief",
                    unit=st.code,
                    password=DEMO_PASSWORD,
                )
            )
            leaders = [f"{code}-leader{i}" for i in range(1, 4)]
            members = [f"{code}-d{i}" for i in range(1, 7)]
            users += [
                UserIn(
                    username=u,
                    display_name=person_name(rng),
                    role="duty_leader",
                    unit=st.code,
                    password=DEMO_PASSWORD,
                )
                for u in leaders
            ]
            users += [
                UserIn(
                    username=u,
                    display_name=person_name(rng),
                    role="dissuader",
                    unit=team,
                    password=DEMO_PASSWORD,
                    phone=mobile(rng),
                )
                for u in members
            ]
            roster += _station_roster(st.code, leaders, members, day0, days)
    return org.model_copy(update={"users": org.users + users, "roster": org.roster + roster})


def _station_roster(
    station: str, leaders: list[str], members: list[str], day0: datetime, days: int
) -> list[ShiftIn]:
    shifts = []
    for day in range(days):
        for slot, hour in enumerate(SHIFT_STARTS):
            starts = day0 + timedelta(days=day, hours=hour)
            ends = starts + timedelta(hours=8)
            k = day * len(SHIFT_STARTS) + slot
            shifts.append(
                ShiftIn(
                    user=leaders[k % len(leaders)],
                    station=station,
                    position="leader",
                    starts_at=starts,
                    ends_at=ends,
                )
            )
            for j in range(2):
                shifts.append(
                    ShiftIn(
                        user=members[(2 * k + j) % len(members)],
                        station=station,
                        position="member",
                        starts_at=starts,
                        ends_at=ends,
                    )
                )
    return shifts
