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


def pseudonym(key: bytes, clear_id: str) -> str:
    return hmac.digest(key, clear_id.encode(), "sha256").hex()
