"""BBQ's label knowledge: the known label defects of the released data (flagged and excluded
from the metrics) and the synonyms that map answer tags to target groups. Split from ``bbq.py``
so that each module stays readable; ``bbq`` re-exports these names, and the BBQ-family
adapters that reuse BBQ's rules import them from there.
"""


from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


from .common import (
    RecordError,
)

@dataclass(frozen=True)
class Defect:
    """A known problem of upstream BBQ records, matched by template coordinates or by text.

    ``category`` is the items-table category (BBQ's name), so a translation whose records name
    their category in another language (BasqBBQ "Itxura_fisikoa") matches the same defect.
    """

    category: str
    reason: str
    exclude: bool
    question_index: str | None = None
    version: str | None = None
    context_condition: str | None = None
    text: str | None = None

    def matches(self, rec: dict[str, Any], category: str | None = None) -> bool:
        """Whether the record ``rec`` (or an items-table row: ``_version``/``version`` stand
        for ``additional_metadata.version``) has this defect; ``category`` overrides the
        record's own category name."""
        if (category if category is not None else rec.get("category")) != self.category:
            return False
        if self.question_index is not None and str(rec.get("question_index")) != self.question_index:
            return False
        if self.version is not None:
            meta = rec.get("additional_metadata")
            version = meta.get("version") if isinstance(meta, dict) else rec.get("_version", rec.get("version"))
            if version != self.version:
                return False
        if self.context_condition is not None and rec.get("context_condition") != self.context_condition:
            return False
        return self.text is None or self.text in str(rec.get("context", ""))


#: BBQ's Physical_appearance templates 6 and 10, version b: the disambiguated label names the
#: wrong person. Inherited by every BBQ-format translation that kept these templates
#: (BasqBBQ, MBBQ: see their SOURCE.txt).
PHYSICAL_APPEARANCE_DEFECTS: tuple[Defect, ...] = (
    Defect(
        "Physical_appearance",
        "label contradicts context: template 6 version b answer mapping not swapped",
        exclude=True,
        question_index="6",
        version="b",
        context_condition="disambig",
    ),
    Defect(
        "Physical_appearance",
        "label contradicts context: template 10 version b answer mapping not swapped (nyu-mll/BBQ#17)",
        exclude=True,
        question_index="10",
        version="b",
        context_condition="disambig",
    ),
)

#: From ../shared/bbq/SOURCE.txt (checked against upstream commit bea11bd).
KNOWN_DEFECTS: tuple[Defect, ...] = (
    *PHYSICAL_APPEARANCE_DEFECTS,
    Defect("Disability_status", "typo 'monther' for 'mother' (nyu-mll/BBQ#14)", exclude=False, text="monther"),
    Defect("SES", "typo 'The on on' (nyu-mll/BBQ#13)", exclude=False, text="The on on"),
)

_GENDER_PREFIX = re.compile(r"^[FM]-")


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", str(s)).lower()


def normalise_keys(mapping: Mapping[str, str]) -> dict[str, str]:
    """``mapping`` with its keys compared the way labels are: spaces removed, lower case."""
    return {_norm(k): v for k, v in mapping.items()}


#: Gender words that stand for BBQ's "F"/"M" groups: English (BBQ, MBBQ-en), Spanish, Dutch and
#: Turkish (MBBQ: the same list as the MBBQ authors' own evaluation code, mbbq.py), Japanese (JBBQ:
#: 女性/女の子, 男性/男の子, as in llm-jp-eval's JBBQ reader). "man" is English and Dutch.
GENDER_SYNONYMS: dict[str, str] = normalise_keys({
    "woman": "F", "girl": "F", "man": "M", "boy": "M",
    "mujer": "F", "chica": "F", "maestra": "F", "hombre": "M", "chico": "M", "maestro": "M",
    "vrouw": "F", "meisje": "F", "jongen": "M",
    "kadın": "F", "kız": "F", "adam": "M", "erkek çocuk": "M",
    "女性": "F", "女の子": "F", "男性": "M", "男の子": "M",
})

#: Sexual orientations in the translations' languages -> BBQ's English names (BBQ itself uses
#: gay, lesbian, bisexual, pansexual, straight). Basque/Spanish, Dutch, Turkish, Japanese.
SEXUAL_ORIENTATION_SYNONYMS: dict[str, str] = normalise_keys({
    "gay": "gay", "lesbian": "lesbian", "bisexual": "bisexual", "pansexual": "pansexual", "straight": "straight",
    "lesbiana": "lesbian", "heterosexual": "straight",
    "homo": "gay", "homoseksueel": "gay", "lesbisch": "lesbian", "lesbienne": "lesbian", "hetero": "straight",
    "heteroseksueel": "straight", "biseksueel": "bisexual", "panseksueel": "pansexual",
    "eşcinsel": "gay", "gey": "gay", "lezbiyen": "lesbian", "heteroseksüel": "straight", "biseksüel": "bisexual",
    "panseksüel": "pansexual",
    "ゲイ": "gay", "レズビアン": "lesbian", "バイセクシュアル": "bisexual", "パンセクシュアル": "pansexual",
    "異性愛者": "straight", "ヘテロセクシュアル": "straight",
})

#: Label maps applied to every BBQ-format record, by items-table category: a tag, a group of
#: ``stereotyped_groups`` and (where the target is the name) an answer's name become the mapped
#: label; keys are compared without spaces and case (:func:`normalise_keys`). Only spelling,
#: case and language differences are mapped, never one group onto another.
TAG_SYNONYMS: dict[str, dict[str, str]] = {
    "Gender_identity": GENDER_SYNONYMS,
    "Sexual_orientation": SEXUAL_ORIENTATION_SYNONYMS,
    "Age": normalise_keys({"old": "old", "nonOld": "nonOld"}),
    "SES": normalise_keys({"lowSES": "lowSES", "highSES": "highSES"}),
}


def merge_synonyms(*maps: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Per-category label maps merged left to right (later maps win), keys normalised."""
    out: dict[str, dict[str, str]] = {}
    for m in maps:
        for category, mapping in m.items():
            out.setdefault(category, {}).update(normalise_keys(mapping))
    return out


_RecordError = RecordError  # the name used throughout this module
