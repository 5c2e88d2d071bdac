"""One form for a fraudster's contact, so the same phone, account, app or site found in two cases
is the same value: phones in E.164 (+86, spaces, dashes and full-width digits folded), QQ and
bank accounts as digits, WeChat ids in lower case, app names without an 'APP' suffix or spaces
(Traditional → Simplified), URLs reduced to their host name without 'www.'."""

from __future__ import annotations

import functools
import re
import unicodedata
from urllib.parse import urlsplit

from quanzu.intel.text import normalise as normalise_text
from quanzu.kit.crypto import mask_phone
from quanzu.kit.identifiers import normalise_any_phone

_SEPARATORS = re.compile(r"[\s\-()（）.·]+")
_DIGITS = re.compile(r"^\d+$")
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?)+$")
_APP_SUFFIX = re.compile(r"(app|软件|客户端)$")


# A ring reuses its phones and accounts from victim to victim: each is normalised once at intake
# and once when the worker links it, and phone parsing is most of both (`phonenumbers`).
@functools.lru_cache(maxsize=4096)
def normalise_contact(kind: str, value: str) -> str | None:
    """The normalised value, or None when the value is not a usable contact of that kind."""
    plain = unicodedata.normalize("NFKC", value).strip()
    if not plain:
        return None
    if kind == "phone":
        return normalise_any_phone(_SEPARATORS.sub("", plain))
    if kind in ("qq", "bank_account"):
        digits = _SEPARATORS.sub("", plain)
        return digits if _DIGITS.match(digits) and len(digits) >= 5 else None
    if kind == "wechat":
        return _SEPARATORS.sub("", plain).lower() or None
    if kind == "url":
        return domain_of(plain)
    if kind == "app":
        name = _APP_SUFFIX.sub("", normalise_text(plain).replace(" ", ""))
        return name or None
    return normalise_text(plain) or None


def domain_of(url: str) -> str | None:
    """`https://WWW.Fake-Bank.com:8443/login?x=1` → `fake-bank.com`; a bare host works too."""
    candidate = url if "://" in url else f"http://{url}"
    try:
        host = (urlsplit(candidate).hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    host = host.removeprefix("www.")
    try:
        host = host.encode("idna").decode("ascii")  # 中文域名 → punycode: one form for both
    except UnicodeError:
        return None
    return host if _HOST.match(host) else None


def mask_contact(kind: str, value: str) -> str:
    """What a station sees. Apps and sites are the fraud's infrastructure, shown whole; phones,
    QQ/WeChat ids and accounts may belong to real people (a mule, a hijacked number): masked."""
    if kind in ("app", "url", "other"):
        return value
    if kind == "phone":
        return mask_phone(value)
    if len(value) <= 4:
        return value[:1] + "*" * (len(value) - 1)
    keep = 4 if kind == "bank_account" else 2
    return value[:keep] + "*" * max(len(value) - 2 * keep, 2) + value[-keep:]
