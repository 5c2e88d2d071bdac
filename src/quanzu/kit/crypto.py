"""PII at rest: AES-256-GCM encryption plus an HMAC-SHA256 blind index for equality lookups.

One master key (config or key file) is split with HKDF into an encryption key and an index key,
so leaking the index never weakens the ciphertext. Ciphertexts carry a version byte so keys can
be rotated later without guessing which key wrote a row."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"
_NONCE_BYTES = 12


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"quanzu:" + purpose).derive(master)


def generate_master_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


class PiiCipher:
    def __init__(self, master_key_b64: str) -> None:
        master = base64.urlsafe_b64decode(master_key_b64.encode())
        if len(master) != 32:
            raise ValueError("the PII master key must be 32 bytes, base64-encoded")
        self._aead = AESGCM(_derive(master, b"pii-encryption"))
        self._index_key = _derive(master, b"pii-blind-index")
        self._csrf_key = _derive(master, b"csrf")

    def encrypt(self, plaintext: str, *, context: str) -> bytes:
        """`context` (e.g. "person.id_number") is bound as associated data: a ciphertext copied
        into another column does not decrypt."""
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def decrypt(self, blob: bytes, *, context: str) -> str:
        if blob[:1] != _VERSION:
            raise ValueError("unknown PII ciphertext version")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        return self._aead.decrypt(nonce, body, context.encode()).decode()

    def csrf_token(self, session_token: str) -> str:
        """Bound to the session: a page of one session cannot post for another."""
        return hmac.new(self._csrf_key, session_token.encode(), hashlib.sha256).hexdigest()[:40]

    def blind_index(self, normalised: str, *, kind: str) -> str:
        return hmac.new(self._index_key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def mask_phone(e164_or_local: str) -> str:
    digits = e164_or_local.removeprefix("+86")
    if len(digits) <= 7:
        return digits[:2] + "*" * max(len(digits) - 2, 0)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(id_number: str) -> str:
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:] if len(id_number) > 8 else "****"


def mask_name(name: str) -> str:
    # Chinese names: keep the surname, which is what a helper needs to greet the person.
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""
