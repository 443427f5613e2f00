"""Shared test helpers: paths to the committed data, and a way to run the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_dir() -> Path:
    return DATA


def run_cli(*args: str, input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``droidcap`` as a user would: a separate process, the installed entry point."""
    droidcap = Path(sys.executable).parent / "droidcap"
    return subprocess.run([str(droidcap), *args], input=input, capture_output=True, timeout=timeout)
