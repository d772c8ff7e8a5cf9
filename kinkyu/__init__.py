"""Kinkyu (緊急): incident and breach response for contractors handling city-held personal data."""

__version__ = "0.1.0"
