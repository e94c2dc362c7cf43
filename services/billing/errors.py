"""Errors of the billing service; the kernel's handler turns them into problem+json."""

from __future__ import annotations

from services.core.errors import DomainError, NotFound, Unavailable


class InvalidSettings(DomainError):
    title = "Invalid billing settings"


class InvalidSignature(DomainError):
    title = "Invalid Stripe signature"


class InvalidEvent(DomainError):
    title = "Invalid Stripe event"


class UnknownProject(NotFound):
    title = "Unknown project token"


class NoEncryptionKey(Unavailable):
    title = "Billing secrets cannot be stored"


class InvalidQuery(DomainError):
    title = "Invalid query"


class CustomerNotFound(NotFound):
    title = "Customer not found"
