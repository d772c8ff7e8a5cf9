"""The JSON form of a run's state records: the core's one codec (:mod:`kinkyu.core.codec`), as the package names it.

Every persisted record of the core is encoded there; this module only keeps
the name the playbook package's layers (and its tests) know it by.
"""

from __future__ import annotations

from kinkyu.core.codec import Record, decode, encode

__all__ = ["Record", "decode", "encode"]
