"""The worker's producer seam, :mod:`kinkyu.bus.sink` (shared with the console), under its old name."""

from __future__ import annotations

from kinkyu.bus.sink import CHECKPOINT_MAX_BYTES, Headers, KafkaSink, Record, Sink

__all__ = ["CHECKPOINT_MAX_BYTES", "Headers", "KafkaSink", "Record", "Sink"]
