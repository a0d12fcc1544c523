"""Pseudonyms for citizen and taxpayer IDs: one HMAC key per purpose, derived with HKDF
from the master key ``PSEUDONYM_KEY``, and a version stored beside every hash.

Domain separation means a citizen's pseudonym and a company's pseudonym of the same 13
digits differ, and neither key can be used for the other purpose. The version names
the master key a hash was made with (``PSEUDONYM_KEY_VERSION``): ``dla rotate-key``
re-derives every hash from the clear IDs in ``raw`` without reloading any file.
Keys never appear in logs, reports or artefacts; ``fingerprint`` names a key safely.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PURPOSES = ("citizen", "taxpayer")


def master_bytes(master: str) -> bytes:
    """The master key as bytes (hex as written by `make setup`, else its UTF-8)."""
    text = master.strip()
    try:
        if len(text) >= 32 and len(text) % 2 == 0:
            return bytes.fromhex(text)
    except ValueError:
        pass
    return text.encode()


def derive(master: str, purpose: str, version: int) -> bytes:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown pseudonym purpose {purpose!r}")
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=f"dla-pseudonym-v{version}".encode(),
        info=f"dla:{purpose}-id".encode(),
    ).derive(master_bytes(master))


@dataclass(frozen=True)
class Keys:
    version: int
    citizen: bytes = field(repr=False)
    taxpayer: bytes = field(repr=False)

    @classmethod
    def derive(cls, master: str, version: int) -> Keys:
        return cls(version, derive(master, "citizen", version), derive(master, "taxpayer", version))

    @classmethod
    def from_settings(cls, settings) -> Keys:
        return cls.derive(settings.pseudonym_key, settings.pseudonym_key_version)

    def fingerprint(self, purpose: str) -> str:
        key = getattr(self, purpose)
        return hashlib.sha256(b"dla-key-fingerprint" + key).hexdigest()[:12]


# HMAC's pads (RFC 2104): the key, zero-filled to SHA-256's block, XOR 0x36 / 0x5c
_BLOCK = hashlib.sha256().block_size  # 64 bytes
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class Pseudonymiser:
    """HMAC-SHA256 under one key, its inner and outer SHA-256 states prepared once and
    copied for each ID: ``hmac.digest`` prepares both on every call, about half its cost
    (a national allowance night hashes a million distinct IDs, a key rotation every one
    in raw)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes):
        key = bytes(key)
        block = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(block.translate(_IPAD))
        self._outer = hashlib.sha256(block.translate(_OPAD))

    def __call__(self, clear_id: str) -> str:
        inner = self._inner.copy()
        inner.update(clear_id.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def many(self, clear_ids: Iterable[str]) -> dict[str, str]:
        """The pseudonym of each distinct ID."""
        return {clear_id: self(clear_id) for clear_id in set(clear_ids)}


def pseudonym(key: bytes, clear_id: str) -> str:
    return Pseudonymiser(key)(clear_id)


# -- erasure tokens and masking ---------------------------------------------------------

_THAI = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_D = "[0-9๐-๙]"
# a 13-digit ID as people write it (1-2345-67890-12-1, with dashes or spaces, or none)
_ID = re.compile(rf"(?<!{_D}){_D}[ \-]?{_D}{{4}}[ \-]?{_D}{{5}}[ \-]?{_D}{{2}}[ \-]?{_D}(?!{_D})")
# any other run of 9 or more digits (a phone number, a mistyped ID)
_DIGIT_RUN = re.compile(rf"(?<!{_D}){_D}{{9,}}(?!{_D})")


def erasure_token(secret: bytes, purpose: str, digits: str) -> str:
    """The tombstone of an erased ID (per purpose): a keyed hash, never the ID."""
    return hmac.digest(secret, f"{purpose}:{digits}".encode(), "sha256").hex()


def line_token(secret: bytes, digits: str) -> str:
    """What replaces an ID in a quarantined line: the same for every purpose, so an
    erasure finds the person's quarantined lines whatever file they came from."""
    return hmac.digest(secret, f"line:{digits}".encode(), "sha256").hex()[:24]


def mask_ids(text: str, secret: bytes) -> str:
    """Personal numbers out of a quarantined line or reason: a 13-digit ID becomes
    ``[id:<token>]``, any other run of 9+ digits (a phone number, a mistyped ID)
    ``[digits]``."""

    def repl(m: re.Match) -> str:
        digits = re.sub(r"[ \-]", "", m.group(0)).translate(_THAI)
        return f"[id:{line_token(secret, digits)}]" if len(digits) == 13 else "[digits]"

    return _DIGIT_RUN.sub(repl, _ID.sub(repl, text))
