"""Experiments service: experiments, metrics and their results (the statistics live in ``stats``)."""
