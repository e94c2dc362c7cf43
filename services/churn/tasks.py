"""Background work of the churn service: none yet (scheduled scoring comes with the model
store)."""

from __future__ import annotations
