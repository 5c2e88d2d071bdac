"""The screening index on its own: candidates by 64-bit key, confirmed against the identifier."""

from __future__ import annotations

import base64

from quanzu.banks.index import IndexedIdentifier, WatchIndex, bank_digest
from quanzu.kit.crypto import PiiCipher

CIPHER = PiiCipher(base64.urlsafe_b64encode(bytes(range(32))).decode())
BANK, OTHER_BANK = 1, 2
BANK_KEY = b"k" * 32
ACCOUNT = "6222020200112233445"


def _index() -> WatchIndex:
    index = WatchIndex(CIPHER)
    bidx = CIPHER.blind_index(ACCOUNT, kind="account")
    enc = CIPHER.encrypt(ACCOUNT, context="watch.account")
    index.load([IndexedIdentifier(watch_id=7, kind="account", bidx=bidx, value_enc=enc)])
    index.set_banks({BANK: BANK_KEY, OTHER_BANK: b"o" * 32})
    return index


def test_a_plain_identifier_matches_its_watch_and_a_colliding_key_does_not() -> None:
    index = _index()
    bidx = CIPHER.blind_index(ACCOUNT, kind="account")
    assert index.matching(BANK, [("account", ACCOUNT, bidx)], []) == {7}
    # Another value whose blind index shares the first 64 bits (forged here: real collisions are
    # astronomically rare) is a candidate in the table but is rejected on its value.
    forged = bidx[:16] + "0" * 48
    assert index.plain("account", forged) == (7,)
    assert index.matching(BANK, [("account", "6222020200199999999", forged)], []) == set()


def test_a_blinded_identifier_matches_only_under_the_senders_key() -> None:
    index = _index()
    digest = bank_digest(BANK_KEY, ACCOUNT)
    assert index.matching(BANK, [], [("account", digest)]) == {7}
    assert index.matching(OTHER_BANK, [], [("account", digest)]) == set()
    assert index.matching(BANK, [], [("phone", digest)]) == set()
    assert index.matching(BANK, [], [("account", digest[:16] + "f" * 48)]) == set()


def test_an_ended_watch_is_gone_from_the_index() -> None:
    index = _index()
    index.replace(7, [])
    bidx = CIPHER.blind_index(ACCOUNT, kind="account")
    assert (
        index.matching(BANK, [("account", ACCOUNT, bidx)], [("account", bank_digest(BANK_KEY, ACCOUNT))])
        == set()
    )
    assert len(index) == 0
