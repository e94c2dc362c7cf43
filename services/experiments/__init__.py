"""Experiments service: experiments, metrics and their results (statistics in ``stats``)."""
