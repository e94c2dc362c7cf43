"""Errors of the billing service; the kernel's handler turns them into problem+json."""

from __future__ import annotations

from services.core.errors import DomainError, NotFound, Unavailable


class InvalidSettings(DomainError):
    """400: billing settings or a meter definition that fail validation."""

    title = "Invalid billing settings"


class InvalidSignature(DomainError):
    """400: a webhook without a verifying Stripe-Signature, or the project has no webhook secret."""

    title = "Invalid Stripe signature"


class InvalidEvent(DomainError):
    """400: a signed webhook body that is not UTF-8 or not a Stripe event."""

    title = "Invalid Stripe event"


class UnknownProject(NotFound):
    """404: no project has the token in the webhook's path."""

    title = "Unknown project token"


class NoEncryptionKey(Unavailable):
    """503: no usable encryption key to seal or open the project's Stripe secrets."""

    title = "Billing secrets cannot be stored"


class InvalidQuery(DomainError):
    """400: a list endpoint's limit out of range or a cursor that is not ours."""

    title = "Invalid query"


class CustomerNotFound(NotFound):
    """404: the project's projection has no customer with this id."""

    title = "Customer not found"
