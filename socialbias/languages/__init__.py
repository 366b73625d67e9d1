"""Prompt languages: the persona instructions and the question template, per language.

A study asks each dataset in its own language (KoBBQ in Korean, CBBQ in Chinese, ...). What the
model reads besides the item's own text is a *prompt language*, one TOML file per language in
``data/`` (``en.toml`` is the paper's English prompt, verbatim; the others translate it):

``code``, ``name``, ``translator`` / ``method`` / ``reviewed`` (who translated it and how: a
run records them), ``instructions`` (the five persona instructions, ``{0}`` = persona name,
index k = run k), ``task`` (first user message, ``{context}`` and ``{question}``), ``options``
(``{0}``..``{2}``) and ``answer_cue``. Option letters stay (A), (B), (C) in every language, so
log-probability scoring reads the same letter tokens everywhere.

English is the documented fallback: ``--prompt-language en`` asks a non-English dataset with the
paper's English frame (items stay in their language; personas use the catalogue's English names).
Your own translation is a TOML file of the same keys: ``load_language("my_fr.toml")``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import InputError

#: The paper's language; every prompt id of an English study is unchanged by this module.
DEFAULT_LANGUAGE = "en"
_KEYS = ("code", "name", "translator", "method", "reviewed", "instructions", "task", "options", "answer_cue")


@dataclass(frozen=True)
class PromptLanguage:
    """The fixed text of a prompt in one language (see the module docstring)."""

    code: str
    name: str
    translator: str
    method: str
    reviewed: str
    instructions: tuple[str, ...]
    task: str
    options: str
    answer_cue: str

    def provenance(self) -> dict[str, str]:
        """Who wrote this prompt and how: recorded in run.json and the report."""
        return {"code": self.code, "name": self.name, "translator": self.translator, "method": self.method,
                "reviewed": self.reviewed}


def available_languages() -> list[str]:
    """Codes of the shipped prompt languages."""
    return sorted(p.name[:-5] for p in resources.files(__package__).joinpath("data").iterdir()
                  if p.name.endswith(".toml"))


def _check_slot(text: str, slots: tuple[str, ...], what: str, where: str) -> str:
    values = {s: s for s in slots}
    try:
        if slots == ("0",):
            text.format("persona")
        elif slots == ("0", "1", "2"):
            text.format("a", "b", "c")
        else:
            text.format(**values)
    except (IndexError, KeyError, ValueError) as exc:
        raise InputError(f"prompt language {where}: {what} is not a valid template ({exc}); use "
                         f"{', '.join('{' + s + '}' for s in slots)} and double other braces") from None
    missing = [s for s in slots if "{" + s + "}" not in text]
    if missing:
        raise InputError(f"prompt language {where}: {what} lacks {', '.join('{' + s + '}' for s in missing)}")
    return text


def _parse(data: dict, where: str) -> PromptLanguage:
    missing = [k for k in _KEYS if k not in data]
    unknown = sorted(set(data) - set(_KEYS))
    if missing or unknown:
        problem = (f"lacks key(s) {', '.join(missing)}" if missing else "") + \
            ("; " if missing and unknown else "") + (f"has unknown key(s) {', '.join(unknown)}" if unknown else "")
        raise InputError(f"prompt language {where} {problem}: it needs exactly {', '.join(_KEYS)}")
    instructions = data["instructions"]
    if not isinstance(instructions, list) or not instructions or not all(isinstance(i, str) for i in instructions):
        raise InputError(f"prompt language {where}: 'instructions' must be a non-empty list of strings")
    for k in ("code", "name", "translator", "method", "reviewed", "task", "options", "answer_cue"):
        if not isinstance(data[k], str) or not data[k]:
            raise InputError(f"prompt language {where}: {k!r} must be a non-empty string")
    return PromptLanguage(
        code=data["code"],
        name=data["name"],
        translator=data["translator"],
        method=data["method"],
        reviewed=data["reviewed"],
        instructions=tuple(_check_slot(t, ("0",), f"instruction {i}", where) for i, t in enumerate(instructions)),
        task=_check_slot(data["task"], ("context", "question"), "task", where),
        options=_check_slot(data["options"], ("0", "1", "2"), "options", where),
        answer_cue=data["answer_cue"],
    )


def load_language(spec: str | os.PathLike[str] = DEFAULT_LANGUAGE) -> PromptLanguage:
    """A shipped prompt language by code (``"ko"``) or your own TOML file by path."""
    text = str(spec)
    if text.endswith(".toml") or os.sep in text:
        path = Path(spec)
        if not path.is_file():
            raise InputError(f"prompt language file {text!r} does not exist: give a TOML file or one of "
                             f"{', '.join(available_languages())}")
        where, raw = repr(text), path.read_bytes()
    else:
        if text not in available_languages():
            raise InputError(f"no prompt translation for language {text!r}: choose one of "
                             f"{', '.join(available_languages())}, 'en' (the English fallback), or pass your own "
                             "TOML file (see socialbias/languages/data/en.toml for the keys)")
        where = f"{text!r}"
        raw = resources.files(__package__).joinpath("data", f"{text}.toml").read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"prompt language {where} is not valid UTF-8 TOML: {exc}") from None
    return _parse(data, where)


__all__ = ["DEFAULT_LANGUAGE", "PromptLanguage", "available_languages", "load_language"]
