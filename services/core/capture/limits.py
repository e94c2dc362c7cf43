"""Every limit of the capture protocol, in one place, for every capture endpoint.

Per kind: a ``$snapshot`` event (a slice of a browser recording, often a full DOM snapshot) is
legitimately far larger than an analytics event, so it has its own limit, the same on ``/s`` and on
``/batch``. A request as a whole is bounded after decompression.
"""

from __future__ import annotations

from datetime import timedelta

# One request after decompression (and after undoing base64 / form / lz64).
MAX_REQUEST_BYTES = 20 * 1024 * 1024
# One analytics event's JSON, as sent.
MAX_EVENT_BYTES = 1024 * 1024
# One ``$snapshot`` event's JSON, as sent: a full snapshot of a heavy page; it must still fit one
# NATS message once zstd-compressed (about ten times smaller).
MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024
MAX_NAME_CHARS = 200
MAX_DISTINCT_ID_CHARS = 200
MAX_SESSION_ID_CHARS = 200
# Fields of a legacy ``data=`` form post; more is an attack, not a client.
MAX_FORM_FIELDS = 64
# An event time further ahead of the server's clock than this (after clock-skew correction) is
# taken as a broken client clock and replaced by the time of arrival.
FUTURE_TOLERANCE = timedelta(hours=23)
