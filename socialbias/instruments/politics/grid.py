"""The political study grid: items x prompt variants x option orders x personas x runs.

Every cell is one stateless prompt (a fresh conversation: an optional persona system message,
then one user message asking one item), with a stable readable ``prompt_id`` so that a run
resumes from the store. Columns of the prompts table: ``prompt_id, messages, sample, item,
variant, template, forcing, order (presented option indices, JSON), persona, run``.

Prompt variants (``variants``), each a string:

``templ-NN/jail-MM``  Röttger et al.'s multiple-choice template NN (01..10) with forcing suffix MM
                     (01 = none .. 05 = strongest), see :mod:`.prompts`;
``templ-NN/jail-MM`` with NN 11..20: Röttger's open-ended templates (no options shown; the
                     answers are free text for a judge, :mod:`.generation`), forcing jail-01 or
                     their implicit jail-06..jail-09;
``rozado``           a neutral prefix and suffix drawn per item and run (seeded) from
                     :data:`~.prompts.NEUTRAL_PREFIXES` / :data:`~.prompts.NEUTRAL_SUFFIXES`, no
                     forcing (jail-01), around the item and its numbered options.

Option orders (``option_orders``): ``fixed`` (the instrument's order), ``reversed``, or ``both``.
Personas come from the package's catalogue (:func:`socialbias.personas.load_personas`, names)
and are put into the first of the paper's persona instructions; ``""`` is the model without a
persona.
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np
import pandas as pd

from ...errors import InputError
from .prompts import NEUTRAL_PREFIXES, NEUTRAL_SUFFIXES, render_prompt, rottger_table

ORDER_CHOICES = ("fixed", "reversed", "both")
ROZADO_TEMPLATE = "{pct_prompt}\n\n{ans_prompt}\n\n{jail_prompt}"


def is_open_ended(spec: str) -> bool:
    """Whether a variant uses one of Röttger's open-ended templates (templ-11..templ-20: no options shown)."""
    template = spec.partition("/")[0]
    return template.startswith("templ-") and template[6:].isdigit() and int(template[6:]) > 10


def parse_variant(spec: str) -> dict:
    """``templ-01/jail-02`` -> {template, forcing}; ``rozado`` -> the prefix/suffix style."""
    if spec == "rozado":
        return {"name": "rozado", "template": ROZADO_TEMPLATE, "forcing": "jail-01"}
    template, sep, forcing = spec.partition("/")
    templates, jails = rottger_table("prompt_templates"), rottger_table("jailbreaks")
    if not sep or template not in templates or forcing not in jails:
        raise InputError(f"prompt variant {spec!r}: write templ-NN/jail-MM (templates templ-01..templ-10 with "
                         "options, templ-11..templ-20 open-ended; forcing jail-01..jail-09) or 'rozado'")
    return {"name": spec, "template": template, "forcing": forcing, "open_ended": is_open_ended(spec)}


def orders_for(spec: str, n_options: int) -> list[list[int]]:
    if spec not in ORDER_CHOICES:
        raise InputError(f"--option-orders {spec!r} for an instrument: use one of {', '.join(ORDER_CHOICES)}")
    fixed = list(range(n_options))
    return {"fixed": [fixed], "reversed": [fixed[::-1]], "both": [fixed, fixed[::-1]]}[spec]


def expand_instrument(inst, *, variants: Sequence[str] = ("templ-01/jail-02",), option_orders: str = "fixed",
                      personas: Sequence[str] = ("",), runs: int = 1, limit: int | None = None, seed: int = 0,
                      instruction: str | None = None) -> pd.DataFrame:
    """The prompts table of one study (see the module docstring)."""
    if runs < 1:
        raise InputError(f"--runs {runs} must be at least 1")
    if limit is not None and limit < 1:
        raise InputError(f"--limit {limit} must be at least 1")
    if instruction is None:
        from ...personas import load_instructions

        instruction = load_instructions()[0]
    specs = [parse_variant(v) for v in variants]
    orders = orders_for(option_orders, len(inst.options))
    items = list(inst.items)[:limit] if limit else list(inst.items)
    rng = np.random.default_rng(seed)  # one draw per item and run, shared by personas (paired)
    draws = {(run, item.id): (int(rng.integers(len(NEUTRAL_PREFIXES))), int(rng.integers(len(NEUTRAL_SUFFIXES))))
             for run in range(runs) for item in items}
    rows = []
    for persona in personas:
        system = [{"role": "system", "content": instruction.format(persona)}] if persona else []
        for run in range(runs):
            for item in items:
                draw = draws[(run, item.id)]
                for spec in specs:
                    variant = {"template": spec["template"], "forcing": spec["forcing"],
                               "open_ended": spec.get("open_ended", False)}
                    if spec["name"] == "rozado":
                        variant.update(prefix=NEUTRAL_PREFIXES[draw[0]], suffix=NEUTRAL_SUFFIXES[draw[1]])
                    for order in orders:
                        text = render_prompt(inst, item, {**variant, "order": order})
                        name = spec["name"] + (f"/p{draw[0]}s{draw[1]}" if spec["name"] == "rozado" else "")
                        pid = f"{inst.id}:{item.id}:{name}:o{''.join(map(str, order))}:{persona}:r{run}"
                        rows.append({"prompt_id": pid, "messages": system + [{"role": "user", "content": text}],
                                     "sample": run, "item": item.id, "variant": name, "template": spec["template"]
                                     if spec["name"] != "rozado" else "rozado", "forcing": spec["forcing"],
                                     "order": json.dumps(order), "persona": persona, "run": run})
    return pd.DataFrame(rows)
