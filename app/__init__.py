"""Almanac: a self-hosted editorial content calendar and scheduler."""

__version__ = "0.1.0"
