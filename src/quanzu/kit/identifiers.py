"""Normalising and checking a person's identifiers: resident ID numbers and phone numbers."""

from __future__ import annotations

import re
from datetime import date

import phonenumbers

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_ID_PATTERN = re.compile(r"^\d{17}[\dX]$")


def normalise_id_number(raw: str) -> str:
    return raw.strip().replace(" ", "").upper()


def id_number_problem(id_number: str) -> str | None:
    """Why a normalised 18-digit resident ID number (GB 11643-1999) is invalid, or None."""
    if not _ID_PATTERN.match(id_number):
        return "身份证号应为18位：17位数字加1位校验码（数字或X）"
    try:
        date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return "身份证号中的出生日期无效"
    total = sum(int(d) * w for d, w in zip(id_number[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK_CHARS[total % 11] != id_number[17]:
        return "身份证号校验码错误（GB 11643）"
    return None


def id_check_char(first17: str) -> str:
    """The check character for 17 digits; used to generate valid synthetic IDs for the demo."""
    return _ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


# The metadata's own patterns for China: a number that fully matches its mobile pattern is valid.
_CN = phonenumbers.PhoneMetadata.metadata_for_region("CN")
_CN_GENERAL = re.compile(rf"(?:{_CN.general_desc.national_number_pattern})\Z")  # type: ignore[union-attr]
_CN_MOBILE = re.compile(rf"(?:{_CN.mobile.national_number_pattern})\Z")  # type: ignore[union-attr]
_CN_MOBILE_SHAPE = re.compile(r"(?:\+86)?(1\d{10})\Z")


def cn_mobile_e164(raw: str) -> str | None:
    """`normalise_phone` for the commonest input, a Chinese mobile number already compact
    (+8613800000000 or 13800000000), at a tenth of its cost; None means "not this shape, ask
    `normalise_phone`", never "invalid". Such a number is parsed without stripping anything (no
    Chinese mobile prefix is a carrier-selection code), so it is valid exactly when the
    metadata's general and mobile patterns match it, and its E.164 form is +86 and the digits
    (tests/kit compares the two over every prefix)."""
    shape = _CN_MOBILE_SHAPE.match(raw)
    if shape is None:
        return None
    national = shape.group(1)
    if _CN_GENERAL.match(national) and _CN_MOBILE.match(national):
        return "+86" + national
    return None


def normalise_phone(raw: str) -> str | None:
    """E.164 form of a Chinese mobile or fixed-line number, or None when it is not a valid one."""
    return cn_mobile_e164(raw) or phonenumbers_e164(raw)  # the commonest input first, at a tenth of the cost


def phonenumbers_e164(raw: str) -> str | None:
    """`normalise_phone` by phonenumbers alone, for any shape of input."""
    try:
        number = phonenumbers.parse(raw.strip(), "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_any_phone(raw: str) -> str | None:
    """E.164 of a number that is at least possible (fraudsters use virtual and foreign numbers
    the metadata may not list as valid); Chinese numbers may omit +86."""
    try:
        number = phonenumbers.parse(raw.strip(), "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def checked_id_number(raw: str) -> str:
    """The normalised ID number, or ValueError saying what is wrong (for schema validators)."""
    normalised = normalise_id_number(raw)
    problem = id_number_problem(normalised)
    if problem:
        raise ValueError(problem)
    return normalised


def checked_phone(raw: str) -> str:
    """The E.164 form of a Chinese phone number, or ValueError (for schema validators)."""
    normalised = normalise_phone(raw)
    if normalised is None:
        raise ValueError("不是有效的中国手机号或固定电话号码")
    return normalised
