"""Packaging tests: the `bundle` marker's skip, and a scratch folder the embedded PostgreSQL can reach.

`@pytest.mark.bundle` tests build the PyInstaller bundle (a minute or more and PyInstaller itself):
they run only when CLINIC_TEST_BUNDLE=1, which `.ci/run` sets, so a plain `pytest` skips them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import make_world_reachable


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CLINIC_TEST_BUNDLE") == "1":
        return
    skip = pytest.mark.skip(reason="builds the PyInstaller bundle: set CLINIC_TEST_BUNDLE=1 (CI does)")
    for item in items:
        if "bundle" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def work_dir() -> Iterator[Path]:
    """A scratch folder the unprivileged embedded-PostgreSQL user can reach, outside pytest's basetemp.

    Other pytest runs on the same machine reset `/tmp/pytest-of-USER` to mode 0700 and prune old
    basetemps, which would cut a running embedded cluster off from its data (the session cluster in
    tests/conftest.py lives outside basetemp for the same reason).
    """
    path = Path(tempfile.mkdtemp(prefix="clinic-packaging-"))
    make_world_reachable(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
