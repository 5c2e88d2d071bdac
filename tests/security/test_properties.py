# ruff: noqa: RUF001, RUF002, RUF003, RUF100
"""Properties of the parsers hostile input reaches first: resident ID numbers (GB 11643), phone
numbers, and the routing function. Hypothesis generates the inputs (profiles in conftest.py)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from quanzu.kit.identifiers import (
    checked_id_number,
    checked_phone,
    id_check_char,
    id_number_problem,
    normalise_any_phone,
    normalise_id_number,
    normalise_phone,
)
from quanzu.routing.rules import AreaRule, RoutingMethod, route
from tests.routing.test_rules import RULES

# --- resident ID numbers -----------------------------------------------------------------------

births = st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31))
regions = st.from_regex(r"[1-8][0-9]{5}", fullmatch=True)
sequences = st.from_regex(r"[0-9]{3}", fullmatch=True)


@st.composite
def valid_ids(draw: st.DrawFn) -> str:
    first17 = draw(regions) + draw(births).strftime("%Y%m%d") + draw(sequences)
    return first17 + id_check_char(first17)


@given(valid_ids())
def test_an_id_with_its_check_character_is_valid(id_number: str) -> None:
    assert id_number_problem(id_number) is None
    assert checked_id_number(f"  {id_number.lower()} ") == id_number  # spaces, lower-case x


@given(valid_ids(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_character_change_is_caught(id_number: str, position: int, replacement: str) -> None:
    assume(id_number[position] != replacement)
    assume(position == 17 or replacement != "X")  # an X inside is caught by the format check anyway
    changed = id_number[:position] + replacement + id_number[position + 1 :]
    assert id_number_problem(changed) is not None


@given(valid_ids(), st.integers(0, 16))
def test_swapping_two_neighbouring_digits_is_caught(id_number: str, position: int) -> None:
    a, b = id_number[position], id_number[position + 1]
    assume(a != b and b != "X")
    swapped = id_number[:position] + b + a + id_number[position + 2 :]
    assert id_number_problem(swapped) is not None


@given(st.text(max_size=40))
def test_any_text_as_an_id_number_is_an_answer_never_a_crash(raw: str) -> None:
    normalised = normalise_id_number(raw)
    assert normalise_id_number(normalised) == normalised
    problem = id_number_problem(normalised)
    if problem is None:
        assert len(normalised) == 18 and normalised[:17].isdigit()
    else:
        with pytest.raises(ValueError, match=problem):
            checked_id_number(raw)


# --- phone numbers -----------------------------------------------------------------------------

mobiles = st.from_regex(r"1(3[0-9]|5[0-35-9]|8[0-9])[0-9]{8}", fullmatch=True)  # long-allocated ranges


@given(mobiles, st.sampled_from(["{}", "+86{}", "+86 {}", "0086{}", "86-{}", "{} ", "（+86）{}"]))
def test_a_mobile_number_normalises_the_same_however_it_is_written(digits: str, pattern: str) -> None:
    spaced = f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    assert normalise_phone(pattern.format(digits)) == "+86" + digits
    assert normalise_phone(pattern.format(spaced)) == "+86" + digits
    assert checked_phone(digits) == "+86" + digits


@given(st.text(max_size=40))
def test_any_text_as_a_phone_is_e164_or_none_and_normalising_twice_changes_nothing(raw: str) -> None:
    for normalise in (normalise_phone, normalise_any_phone):
        e164 = normalise(raw)
        if e164 is not None:
            assert e164.startswith("+") and e164[1:].isdigit() and len(e164) <= 16
            assert normalise(e164) == e164


# --- routing -----------------------------------------------------------------------------------

NEUTRAL = "甲乙丙丁戊己庚辛壬癸"  # no area name, alias or division name is made of these
streets = st.builds(
    lambda name, kind, number: f"{name}{kind}{number}号",
    st.text(alphabet=NEUTRAL, min_size=2, max_size=5),
    st.sampled_from(["路", "街", "大道", "弄"]),
    st.integers(1, 9999),
)
phones = st.one_of(st.none(), st.text(max_size=20), mobiles.map(lambda d: "+86" + d))


@given(st.one_of(st.none(), st.text(max_size=80)), phones)
def test_routing_answers_any_input_and_answers_it_the_same_way_twice(
    address: str | None, phone: str | None
) -> None:
    decision = route(address, phone, RULES)
    assert decision == route(address, phone, RULES)
    assert isinstance(decision.method, RoutingMethod) and decision.detail
    assert (decision.station_code is None) == (decision.method is RoutingMethod.TRIAGE)
    if decision.station_code is not None:
        assert decision.station_code in {a.station_code for a in RULES.areas}


@given(
    st.sampled_from(RULES.areas),
    streets,
    st.sampled_from(["江苏省苏州市吴江区", "苏州市吴江区", "吴江区", ""]),
)
def test_an_address_naming_one_area_goes_to_that_areas_station(
    area: AreaRule, street: str, prefix: str
) -> None:
    decision = route(f"{prefix}{area.name}{street}", None, RULES)
    assert decision.method is RoutingMethod.ADDRESS
    assert decision.station_code == area.station_code and decision.matched == area.name


@given(st.text(max_size=30), streets, phones)
def test_the_explanation_never_repeats_the_street_address(
    before: str, street: str, phone: str | None
) -> None:
    decision = route(before + street, phone, RULES)
    assert street not in decision.detail
    assert street[:-1] not in decision.detail  # nor the road and house number without 号


@given(st.sampled_from(RULES.areas), streets)
def test_full_width_digits_and_spaces_do_not_change_the_decision(area: AreaRule, street: str) -> None:
    address = f"江苏省苏州市吴江区{area.name}{street}"
    full_width = address.translate({ord(d): chr(ord(d) - ord("0") + ord("０")) for d in "0123456789"})
    spaced = " ".join(address)
    expected = route(address, None, RULES)
    assert route(full_width, None, RULES) == expected
    assert route(spaced, None, RULES).station_code == expected.station_code
