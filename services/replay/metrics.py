"""Prometheus metrics of the replay service (on the process's ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter

from services.core.metrics import REGISTRY

SNAPSHOTS_ACCEPTED = Counter(
    "devflow_replay_snapshots_accepted_total",
    "$snapshot events acknowledged to clients by POST /s",
    registry=REGISTRY,
)
SNAPSHOTS_REJECTED = Counter(
    "devflow_replay_snapshots_rejected_total",
    "$snapshot events refused by POST /s, by field",
    ["reason"],
    registry=REGISTRY,
)
CHUNKS_STORED = Counter(
    "devflow_replay_chunks_stored_total", "Recording chunks newly stored", registry=REGISTRY
)
RAW_BYTES_STORED = Counter(
    "devflow_replay_raw_bytes_total", "rrweb JSON bytes newly stored", registry=REGISTRY
)
STORED_BYTES = Counter(
    "devflow_replay_stored_bytes_total",
    "Compressed bytes newly stored (chunk data)",
    registry=REGISTRY,
)
SNAPSHOTS_DUPLICATE = Counter(
    "devflow_replay_snapshots_duplicate_total",
    "$snapshot events dropped by the consumer as already stored",
    registry=REGISTRY,
)
CHUNKS_QUARANTINED = Counter(
    "devflow_replay_chunks_quarantined_total",
    "$snapshot events whose data could not be decoded, kept in replay_quarantine",
    registry=REGISTRY,
)
CHUNKS_UNREADABLE = Counter(
    "devflow_replay_chunks_unreadable_total",
    "Stored chunks skipped on playback because they no longer decode",
    registry=REGISTRY,
)
SESSIONS_EXPIRED = Counter(
    "devflow_replay_sessions_expired_total",
    "Recordings deleted by the retention job",
    registry=REGISTRY,
)
CHUNKS_COMPACTED = Counter(
    "devflow_replay_chunks_compacted_total",
    "Small chunks merged into larger ones by the compaction job",
    registry=REGISTRY,
)
