"""DevFlow Analytics client SDK.

This distribution is installable alone (``pip install ./sdk/python``). It holds the feature-flag
evaluation engine, ``devflow_sdk.flags``, which the flags service imports as-is so that local and
remote evaluation agree. The capture client is not written yet.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
