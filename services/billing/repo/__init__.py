"""SQL of the billing service, one module per aggregate:

- :mod:`.settings`: each project's Stripe settings (secrets sealed).
- :mod:`.log`: ``stripe_events``, the append-only log of verified webhook events.
- :mod:`.projection`: customers, products, prices, subscriptions, invoices, entitlements and
  checkout links, each row applied only from an event newer than the one it holds.
"""

from __future__ import annotations

from services.billing.repo._conn import Conn

__all__ = ["Conn"]
