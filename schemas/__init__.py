"""Wire contracts: every NATS message and HTTP body shared across services is a Struct here."""

from __future__ import annotations
