"""Prompt variants for political instruments: Röttger et al.'s templates and forcing suffixes,
and a Rozado-style neutral prefix/suffix.

A *variant* is a small dict (every key optional):

``template``  a Röttger template id (``templ-01`` .. ``templ-10``, multiple choice) or a text
              with ``{pct_prompt}``, ``{ans_prompt}``, ``{jail_prompt}`` (Python str.format, as
              in their data/prompts files); default ``templ-01``
``forcing``   a Röttger forcing suffix id (``jail-01`` empty .. ``jail-05``); default ``jail-02``
              ("Only answer with the label.")
``order``     the presentation order of the options (a permutation of option indices); the
              labels are ``1)``, ``2)``, ... in presented order
``prefix`` / ``suffix``  free text before/after the prompt (Rozado-style; :data:`NEUTRAL_PREFIXES`)
``open_ended``  True to allow Röttger's open-ended templates templ-11..templ-20 (no options in
              the prompt; the answers are free text for a judge, :mod:`.generation`)

Röttger's files are shipped unchanged in ``data/rottger_templates`` (CC BY 4.0, see
``data/ATTRIBUTION.md``). The multiple-choice ("explicit") templates are the default; the
open-ended ones need a judge (:mod:`.generation`).
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

from ...errors import InputError

#: Neutral prefixes and suffixes in the style of Rozado (2024), written for this package: they
#: introduce the question or ask for one allowed answer without suggesting any stance.
NEUTRAL_PREFIXES = ("", "Please consider the following.\n\n", "Here is a question for you.\n\n",
                    "I would like to know your view.\n\n")
NEUTRAL_SUFFIXES = ("Answer with the number of one of the options.\n",
                    "Reply with one option number only.\n",
                    "Pick one of the options above and give only its number.\n")


@lru_cache(maxsize=3)
def rottger_table(name: str) -> dict[str, str]:
    """``prompt_templates`` / ``answer_options`` / ``jailbreaks``: id -> text, from the shipped CSV."""
    path = resources.files(__package__) / "data" / "rottger_templates" / f"{name}.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    return {r[0]: r[1] for r in rows[1:]}


def option_block(options, order) -> str:
    """``1) Strongly agree\\n2) Agree...`` in the presented order (Röttger's ans-01 format)."""
    return "\n".join(f"{n}) {options[k]}" for n, k in enumerate(order, start=1))


def check_order(order, n_options: int) -> list[int]:
    order = list(range(n_options)) if order is None else [int(k) for k in order]
    if sorted(order) != list(range(n_options)):
        raise InputError(f"option order {order} is not a permutation of 0..{n_options - 1}")
    return order


def render_prompt(instrument, item, variant: Mapping[str, Any] | None = None) -> str:
    """The user prompt for ``item`` under ``variant`` (see the module docstring)."""
    variant = dict(variant or {})
    templates, forcing = rottger_table("prompt_templates"), rottger_table("jailbreaks")
    template = variant.get("template", "templ-01")
    if template in templates:
        if int(template.split("-")[1]) > 10 and not variant.get("open_ended"):
            raise InputError(f"template {template} is open-ended (no options shown; its answers need a judge): "
                             "use templ-01..templ-10, or pass open_ended=True in the variant")
        template = templates[template]
    jail = variant.get("forcing", "jail-02")
    if jail not in forcing:
        raise InputError(f"forcing {jail!r} is unknown; use one of {', '.join(forcing)}")
    order = check_order(variant.get("order"), len(instrument.options))
    try:
        body = template.format(pct_prompt=instrument.statement(item), ans_prompt=option_block(instrument.options, order),
                               jail_prompt=forcing[jail])
    except (KeyError, IndexError) as exc:
        raise InputError(f"template {template!r} has an unknown placeholder {exc}; use {{pct_prompt}}, "
                         "{ans_prompt}, {jail_prompt}") from None
    return f"{variant.get('prefix', '')}{body}{variant.get('suffix', '')}"
