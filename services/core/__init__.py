"""Shared kernel: settings, database, migrations, the NATS bus, the app factory, observability."""
