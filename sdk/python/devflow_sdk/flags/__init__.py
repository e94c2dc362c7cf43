"""The feature-flag evaluation engine, shared by the flags service (remote evaluation) and the SDK
(local evaluation) so that the two never disagree.

Definitions use PostHog's shape (``/flags/definitions``), and evaluation agrees with PostHog's own
local evaluation, including exactly when it is inconclusive::

    flags = FlagSet.from_definitions(document)
    result = flags.evaluate("new-checkout", "user-1", person_properties={"plan": "pro"})
    if result is not None and result.enabled:
        ...
"""

from __future__ import annotations

from ._cycles import dependencies, find_dependency_cycle, with_dependency_chains
from ._engine import FlagSet
from ._hashing import bucket
from ._types import DefinitionError, Evaluation
from ._validate import validate_cohort, validate_flag

__all__ = [
    "DefinitionError",
    "Evaluation",
    "FlagSet",
    "bucket",
    "dependencies",
    "find_dependency_cycle",
    "validate_cohort",
    "validate_flag",
    "with_dependency_chains",
]
