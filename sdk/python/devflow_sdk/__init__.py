"""DevFlow Analytics client SDK.

This distribution is installable alone (``pip install ./sdk/python``). It will hold the feature-flag
evaluation engine shared with the flags service and the capture client; today it exposes only its
version so that the platform and its tests can depend on it being importable on its own.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
