"""Statistics engine tests; GrowthBook's gbstats is the oracle."""
