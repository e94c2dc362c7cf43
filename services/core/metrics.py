"""Prometheus metrics of the process, served on ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "devflow_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "devflow_http_request_seconds", "HTTP request latency", ["route"], registry=REGISTRY
)
EVENTS_ACCEPTED = Counter(
    "devflow_events_accepted_total", "Events acknowledged to clients", registry=REGISTRY
)
EVENTS_REJECTED = Counter(
    "devflow_events_rejected_total", "Events refused, by reason", ["reason"], registry=REGISTRY
)
EVENTS_WRITTEN = Counter(
    "devflow_events_written_total", "Events newly stored by the writer", registry=REGISTRY
)
EVENTS_DUPLICATE = Counter(
    "devflow_events_duplicate_total", "Events dropped as already stored", registry=REGISTRY
)
PUBLISH_FAILURES = Counter(
    "devflow_publish_failures_total",
    "JetStream publishes not acknowledged",
    ["stream"],
    registry=REGISTRY,
)
MESSAGES_CONSUMED = Counter(
    "devflow_messages_consumed_total", "NATS messages acked", ["consumer"], registry=REGISTRY
)
DEAD_LETTERED = Counter(
    "devflow_messages_dead_lettered_total",
    "Messages moved to the DLQ",
    ["consumer"],
    registry=REGISTRY,
)
