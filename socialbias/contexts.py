"""Context conditions by any of their names: ``"ambig"``/``"ambiguous"``, ``"disambig"``/``"disambiguated"``.

The tables store BBQ's codes (``ambig``, ``disambig``); every Python function that takes a
context (``Results.graph(context=...)``, the ``plot_*`` functions, ``build_graph``) accepts the
full words too, in any case, through :func:`context_code`.
"""

from __future__ import annotations

#: Each accepted name (lower case) -> the code the tables use.
CONTEXT_ALIASES: dict[str, str] = {
    "ambig": "ambig", "ambiguous": "ambig", "amb": "ambig",
    "disambig": "disambig", "disambiguated": "disambig", "dis": "disambig",
}


def context_code(name: str | None) -> str | None:
    """The table code of a context name (None stays None; a name not listed is returned as given)."""
    if name is None:
        return None
    return CONTEXT_ALIASES.get(str(name).strip().lower(), str(name))


__all__ = ["CONTEXT_ALIASES", "context_code"]
