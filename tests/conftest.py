from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from genai_o11y import toolchain  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from the current output")


@pytest.fixture
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


@pytest.fixture(scope="session")
def otelcol() -> Path:
    """The built collector. Missing is a failure, not a skip: `make test` builds it first."""
    path = toolchain.collector_path()
    if path is None:
        pytest.fail("the collector is not built for the current manifest: run `make collector` (make test does)")
    return path


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
