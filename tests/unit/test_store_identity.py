"""A deployment's shared store folder: its id is claimed once, whole, however many workers start at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kinkyu.streams.store_identity import STORE_ID_FILE, StoreMismatchError, _claim, folder_id


def test_a_folder_without_an_id_gets_one_that_it_keeps(tmp_path: Path) -> None:
    first = _claim(tmp_path)
    assert folder_id(tmp_path) == first
    assert _claim(tmp_path) == first


def test_workers_claiming_one_folder_at_the_same_moment_all_read_the_first_id_whole(tmp_path: Path) -> None:
    for attempt in range(20):
        folder = tmp_path / str(attempt)
        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = set(pool.map(_claim, [folder] * 8))
        assert ids == {folder_id(folder)}, "one id, never an empty or half-written one"
        assert sorted(p.name for p in folder.iterdir()) == [STORE_ID_FILE], "no draft is left behind"


def test_an_empty_id_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / STORE_ID_FILE).write_text("", encoding="ascii")
    with pytest.raises(StoreMismatchError, match="is empty: remove it"):
        _claim(tmp_path)
