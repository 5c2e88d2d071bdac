"""The in-memory screening index: every bank screens every counter transaction, so a miss must
not touch the database.

Keys are the first 64 bits of a digest (our blind index for plain identifiers, the bank's HMAC
for blinded ones) mapped to watch ids: a 1,000,000-entry watch list fits in a few hundred MB.
A rare 64-bit collision can only cause a false candidate, and `matching` rejects it by
comparing the candidate's own identifier (decrypted) with what the bank sent, so a hit needs
the database only to learn whether the watch is still live. Each process builds the index at
start and applies changes as they are announced (after commit in this process, PostgreSQL
NOTIFY from the others)."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from quanzu.kit.crypto import PiiCipher

IDENTIFIER_KINDS = ("id_number", "phone", "account")
Key = tuple[str, int]  # (identifier kind, first 64 bits of the digest)
# Values are tuples replaced whole on change, never mutated: readers on other threads take no lock.
Table = dict[Key, tuple[int, ...]]


def short(hex_digest: str) -> int:
    return int(hex_digest[:16], 16)


def bank_digest(bank_key: bytes, normalised: str) -> str:
    """What a bank sends for a blinded identifier: hex HMAC-SHA256 of the normalised value."""
    return hmac.new(bank_key, normalised.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class IndexedIdentifier:
    watch_id: int
    kind: str
    bidx: str
    value_enc: bytes


class WatchIndex:
    def __init__(self, cipher: PiiCipher) -> None:
        self._cipher = cipher
        self._plain: Table = {}
        self._blinded: dict[int, Table] = {}  # bank id -> its blinded keys
        self._bank_keys: dict[int, bytes] = {}
        self._keys_of: dict[int, list[tuple[str, int, bytes]]] = {}  # watch -> (kind, short bidx, enc)
        self._lock = threading.Lock()  # writers only: readers see whole dict entries (GIL)
        self.ready = False

    # --- reading (the hot path) ------------------------------------------------------------

    def plain(self, kind: str, bidx: str) -> tuple[int, ...]:
        return self._plain.get((kind, short(bidx)), ())

    def blinded(self, bank_id: int, kind: str, digest: str) -> tuple[int, ...]:
        return self._blinded.get(bank_id, {}).get((kind, short(digest)), ())

    def matching(
        self, bank_id: int, plain: Iterable[tuple[str, str, str]], blinded: Iterable[tuple[str, str]]
    ) -> set[int]:
        """Watches holding any of `plain` (kind, normalised value, blind index) or `blinded`
        (kind, the bank's hex digest of the normalised value)."""
        found: set[int] = set()
        for kind, value, bidx in plain:
            for watch_id in self.plain(kind, bidx):
                if any(hmac.compare_digest(v, value) for v in self._values(watch_id, kind)):
                    found.add(watch_id)
        key = self._bank_keys.get(bank_id)
        if key is None:  # a bank without a key cannot have sent anything blinded we can check
            return found
        for kind, digest in blinded:
            for watch_id in self.blinded(bank_id, kind, digest):
                values = self._values(watch_id, kind)
                if any(hmac.compare_digest(bank_digest(key, v), digest) for v in values):
                    found.add(watch_id)
        return found

    def _values(self, watch_id: int, kind: str) -> list[str]:
        return [self._plaintext(k, enc) for k, _bidx, enc in self._keys_of.get(watch_id, ()) if k == kind]

    def __len__(self) -> int:
        return len(self._keys_of)

    # --- writing ---------------------------------------------------------------------------

    def set_banks(self, bank_keys: dict[int, bytes]) -> None:
        """(Re)computes every bank's blinded keys for the watches indexed now."""
        with self._lock:
            self._bank_keys = dict(bank_keys)
            self._blinded = {bank_id: {} for bank_id in bank_keys}
            for watch_id, identifiers in self._keys_of.items():
                self._add_blinded(watch_id, identifiers)

    def replace(self, watch_id: int, identifiers: Iterable[IndexedIdentifier]) -> None:
        """Indexes a watch entry's identifiers (none: it ended), dropping what it had before."""
        keys = [(i.kind, short(i.bidx), i.value_enc) for i in identifiers]
        with self._lock:
            self._remove(watch_id)
            if keys:
                self._keys_of[watch_id] = keys
                for kind, bidx, _enc in keys:
                    _add(self._plain, (kind, bidx), watch_id)
                self._add_blinded(watch_id, keys)

    def load(self, identifiers: Iterable[IndexedIdentifier]) -> None:
        grouped: dict[int, list[IndexedIdentifier]] = {}
        for identifier in identifiers:
            grouped.setdefault(identifier.watch_id, []).append(identifier)
        for watch_id, rows in grouped.items():
            self.replace(watch_id, rows)
        self.ready = True

    def _remove(self, watch_id: int) -> None:
        for kind, bidx, enc in self._keys_of.pop(watch_id, []):
            _discard(self._plain, (kind, bidx), watch_id)
            for bank_id, key in self._bank_keys.items():
                digest = bank_digest(key, self._plaintext(kind, enc))
                _discard(self._blinded[bank_id], (kind, short(digest)), watch_id)

    def _add_blinded(self, watch_id: int, keys: list[tuple[str, int, bytes]]) -> None:
        for kind, _bidx, enc in keys:
            value = self._plaintext(kind, enc)
            for bank_id, key in self._bank_keys.items():
                digest = bank_digest(key, value)
                _add(self._blinded[bank_id], (kind, short(digest)), watch_id)

    def _plaintext(self, kind: str, enc: bytes) -> str:
        return self._cipher.decrypt(enc, context=f"watch.{kind}")


def _add(table: Table, key: Key, watch_id: int) -> None:
    ids = table.get(key, ())
    if watch_id not in ids:
        table[key] = (*ids, watch_id)


def _discard(table: Table, key: Key, watch_id: int) -> None:
    ids = tuple(i for i in table.get(key, ()) if i != watch_id)
    if ids:
        table[key] = ids
    else:
        table.pop(key, None)
