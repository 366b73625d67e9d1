"""The BBQ instrument's study grid: items -> personas x instructions -> prompts, and answers back.

Moved here from :mod:`socialbias.pipeline` (which re-exports every name) so that the BBQ persona
QA instrument is one package folder, like the political one (docs/design.md, "The instrument
seam"). :func:`study_inputs` is the instrument's items and prompt renderer for a whole study;
:func:`answers_from_store` turns stored letters back into the metrics' answers table
(docs/method.md section 2 for the prompts, section 4 for the answers table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd

from ...errors import InputError


@dataclass
class StudyInputs:
    """What a study asks: items, personas, prompt language and the prompts built from them."""

    items: pd.DataFrame
    personas: pd.DataFrame
    language: Any  # socialbias.languages.PromptLanguage
    prompts: pd.DataFrame
    dataset: Any  # bbq_adapters.DatasetInfo


def load_dataset_items(dataset: str, source: Any, categories: Sequence[str] | None,
                       options: dict[str, Any] | None = None) -> pd.DataFrame:
    """``bbq_adapters.load_items`` with the run's dataset options (``--dataset-option K=V``, e.g.
    MBBQ's ``language=nl``); an option the adapter does not take is one clear error."""
    import re

    from socialbias.bbq_adapters import load_items

    options = dict(options or {})
    try:
        return load_items(dataset, source=source, categories=categories, **options)
    except TypeError as exc:
        match = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if not match or match.group(1) not in options:
            raise
        raise InputError(f"dataset {dataset!r} has no option {match.group(1)!r}: "
                         f"'python -m socialbias.eval datasets' lists each dataset's options") from None


def study_inputs(config: Any) -> StudyInputs:
    """Load the items, pick the prompt language and personas, and expand the prompts.

    ``config``: a :class:`socialbias.pipeline.RunConfig` (or anything with its data, persona
    and prompt fields: dataset, bbq_dir, dataset_options, categories, limit, prompt_language,
    instruction_file, personas, instructions, messages, option_orders, seed).

    The prompt language is the items' own language unless ``prompt_language`` says otherwise
    (``en``: the paper's English frame and the catalogue's English persona names; a code or a
    TOML file: that translation). With ``instruction_file="paper"`` the instructions are the
    prompt language's translation of the paper's five.
    """
    from socialbias.bbq_adapters import dataset_info
    from socialbias.bbq_adapters.limit import limit_items

    from ...expand import expand
    from ...languages import load_language
    from ...personas import load_instructions, resolve_personas, with_placebo

    info = dataset_info(config.dataset)
    items = load_dataset_items(config.dataset, config.bbq_dir, config.categories, config.dataset_options)
    items = limit_items(items, config.limit, config.limit_from)
    spec = config.prompt_language
    if spec == "auto":
        languages = sorted(set(items["language"])) if len(items) else list(info.languages[:1])
        if len(languages) != 1:
            raise InputError(f"the items are in several languages ({', '.join(languages)}): pick the prompt language "
                             "with --prompt-language CODE")
        spec = languages[0]
    language = load_language(spec)
    instructions = (list(language.instructions) if config.instruction_file == "paper"
                    else load_instructions(config.instruction_file))
    personas = resolve_personas(config.personas, config.categories or sorted(set(items["category"])),
                                dataset=config.dataset, language=language.code)
    if config.placebo_personas:  # the placebo control group (docs/method.md section 8, "The floor")
        personas = with_placebo(personas, sorted(set(items["category"])), language.code)
    prompts = expand(items, personas, instructions, runs=config.instructions, template=config.messages,
                     language=None if language.code == "en" else language, option_orders=config.option_orders,
                     seed=config.seed)
    return StudyInputs(items, personas, language, prompts, info)


def answers_from_store(prompts: pd.DataFrame, responses: pd.DataFrame, items: pd.DataFrame, model: str) -> pd.DataFrame:
    """The answers table (metrics' input) of one model: prompts joined with responses and items.

    The store holds the letter chosen as shown; ``choice`` here is the item's original option
    (:func:`metrics.position.original_choices`), ``option_order`` the order that was shown. When
    an item was asked in several orders per run (cyclic design), each (instruction, order) pair
    is one metrics run (:func:`metrics.position.order_runs`)."""
    from socialbias.metrics.position import order_runs, original_choices

    from ...personas import PLACEBO_GROUP
    from ...recorded import ANSWER_COLUMNS

    orders = prompts["option_order"] if "option_order" in prompts.columns else pd.Series("012", index=prompts.index)
    joined = prompts[["prompt_id", "item_id", "persona", "persona_group", "member_of", "instruction"]].assign(
        option_order=orders).merge(
        responses[["prompt_id", "choice", "parse"]], on="prompt_id", how="inner"
    )
    joined["choice"] = original_choices(joined["choice"].to_numpy(), joined["option_order"].to_numpy())
    repeated = bool(joined.duplicated(["item_id", "persona", "instruction"]).any())
    joined = joined.merge(items, on="item_id", how="left")
    joined["model"] = model
    joined["run"] = order_runs(joined["instruction"].to_numpy(), joined["option_order"].to_numpy(), repeated)
    joined["persona_member_of"] = joined["member_of"].fillna("")
    joined["persona_placebo"] = (joined["persona_group"] == PLACEBO_GROUP).to_numpy(dtype=bool)
    return joined[list(ANSWER_COLUMNS)]


__all__ = ["StudyInputs", "answers_from_store", "load_dataset_items", "study_inputs"]
