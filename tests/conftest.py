"""Shared test fixtures: paths to ../shared (tests only; the package never reads it)."""

from __future__ import annotations

import os
from pathlib import Path

# Tests never reach the network: the hub libraries read these once, at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BBQ_DIR = SHARED / "bbq" / "data"
PROTOCOL_DIR = SHARED / "protocol"
PAPER_OUTPUTS = SHARED / "paper_outputs"
#: Non-English BBQ variants (../shared/bbq_family/<Name>/, see each SOURCE.txt).
FAMILY_DIR = SHARED / "bbq_family"


@pytest.fixture(scope="session")
def bbq_dir() -> Path:
    if not BBQ_DIR.is_dir():
        pytest.fail(f"the BBQ data are expected at {BBQ_DIR} (../shared beside the repository)")
    return BBQ_DIR


@pytest.fixture(scope="session")
def bbq_items(bbq_dir):
    from socialbias.bbq_adapters import load_bbq

    return load_bbq(bbq_dir)
