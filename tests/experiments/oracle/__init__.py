"""Running GrowthBook's gbstats 0.8.0 as an oracle, in a venv of its own."""
