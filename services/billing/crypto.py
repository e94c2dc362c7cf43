"""Secrets at rest: AES-256-GCM with a key from the environment, each ciphertext bound to its
project and field (associated data), so a value copied to another row does not decrypt."""

from __future__ import annotations

import base64
import os
import secrets
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.billing.config import key_bytes
from services.core.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

# Format version, then a 12-byte nonce, then the ciphertext and its tag.
_VERSION = b"\x01"
_NONCE = 12
KEY_FILE = "billing.key"
KEY_ENV = "DEVFLOW_BILLING_ENCRYPTION_KEY"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def from_text(cls, text: str) -> SecretBox:
        """A box from a URL-safe base64 key of 32 bytes; :class:`ConfigError` otherwise."""
        key = key_bytes(text)
        if len(key) != 32:
            raise ConfigError(
                "invalid setting DEVFLOW_BILLING_ENCRYPTION_KEY: must be 32 bytes, "
                "URL-safe base64 encoded"
            )
        return cls(key)

    def seal(self, plaintext: str, context: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str | None:
        """The plaintext, or None when the value was sealed with another key or context."""
        if sealed[:1] != _VERSION:
            return None
        nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, body, context.encode()).decode()
        except InvalidTag:
            return None


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def local_key(data_dir: Path) -> str:
    """The key kept in ``data_dir`` for ``devflow up``, made (readable by its owner only) on
    first use; a later start reads the same one, so stored secrets stay readable."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(new_key() + "\n")
    return path.read_text().strip()
