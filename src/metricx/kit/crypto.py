"""Secrets at rest: MultiFernet over the configured keys (newest first), a masked value, and
keys derived from the app's secret for one purpose each."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class Secret:
    """A decrypted secret. Its repr and str are ``***``; ``reveal()`` at the point of use."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class DecryptionError(Exception):
    """No configured key opens this ciphertext."""


class Cipher:
    """Encrypts with the newest key, decrypts with any, and re-encrypts under the newest."""

    def __init__(self, keys: Iterable[str]) -> None:
        parsed = [Fernet(k.strip().encode()) for k in keys if k.strip()]
        if not parsed:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet(parsed)

    @classmethod
    def from_csv(cls, csv: str) -> Cipher:
        return cls(csv.split(","))

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> Secret:
        try:
            return Secret(self._fernet.decrypt(ciphertext).decode())
        except InvalidToken as exc:
            raise DecryptionError("no configured encryption key can decrypt this value") from exc

    def rotate(self, ciphertext: bytes) -> bytes:
        try:
            return self._fernet.rotate(ciphertext)
        except InvalidToken as exc:
            raise DecryptionError("no configured encryption key can decrypt this value") from exc


def derive_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose from the app's secret, so no two uses share a key (and a value
    keyed for one purpose says nothing about another)."""
    label = b"metricx.derive-key:" + purpose.encode()
    return hmac.new(secret.encode(), label, hashlib.sha256).digest()


def keyed_digest(key: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value``: equal values match, and without the key nobody can test a
    guess against it (as one could against a plain hash of a low-entropy value)."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def same_secret(sent: str, expected: str) -> bool:
    """Constant-time comparison of a value a client sent with the expected secret. As bytes:
    ``compare_digest`` raises on a str with non-ASCII characters, and a crafted value must be
    a plain mismatch, not a server error."""
    return hmac.compare_digest(sent.encode(), expected.encode())
