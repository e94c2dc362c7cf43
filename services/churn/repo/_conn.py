from __future__ import annotations

from typing import Any

import psycopg

Conn = psycopg.AsyncConnection[Any]
