"""Reading an OpenAI-compatible completion: its text and the log-probabilities of option labels.

Pure functions of a decoded JSON body (no HTTP: :mod:`.openai_transport` does that), split out of
:mod:`.openai` so the two concerns can be read and tested alone (docs/design.md, "engines").

* :func:`letter_probabilities`: BBQ's three letters A/B/C from the top log-probabilities of the
  first generated token;
* :func:`label_probabilities`: the same rule for any N option labels (``"1".."5"`` of a political
  instrument, docs/method.md);
* :func:`impossible_logprobs`: log-probabilities no server may send (positive, NaN, +inf);
* ``_first_choice``, ``_message_text``, ``_top_entries``: the parts of a chat or completions body.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

from ..answers import LETTERS, NONE
from .openai_transport import _Retry, _one_line

_NAN = math.nan


def label_probabilities(top: Iterable[tuple[Any, Any]], labels: Sequence[str]) -> tuple[int, tuple[float, ...]]:
    """Choice and option probabilities over ``labels`` from ``(token, logprob)`` pairs of one position.

    Tokens whose text, stripped of blanks (and a leading ``Ġ``/``▁`` marker), is exactly a label
    add their probability to it (``"2"`` and ``" 2"`` are one answer; ``"(2"`` or ``"2."`` are
    not counted); the sums are renormalised to sum to 1 and the choice is the argmax (the first
    on a tie). No label among the pairs: ``(-1, (nan, ...))``. Labels the top K do not hold
    count as probability 0, so with few alternatives (small ``top_logprobs``) the result is the
    distribution over the labels the server showed.
    """
    index = {label: i for i, label in enumerate(labels)}
    mass = [0.0] * len(index)
    for token, logprob in top:
        if not isinstance(token, str) or isinstance(logprob, bool) or not isinstance(logprob, (int, float)):
            continue
        if logprob != logprob:  # NaN
            continue
        i = index.get(token.strip().lstrip("Ġ▁").strip())
        if i is not None:
            mass[i] += math.exp(min(float(logprob), 0.0))
    total = sum(mass)
    if not total > 0.0 or not math.isfinite(total):
        return NONE, tuple(_NAN for _ in mass)
    probs = tuple(m / total for m in mass)
    return max(range(len(probs)), key=probs.__getitem__), probs


def letter_probabilities(top: Iterable[tuple[Any, Any]]) -> tuple[int, tuple[float, float, float]]:
    """Choice and option probabilities from ``(token, logprob)`` pairs of one position.

    Tokens whose text, stripped of blanks (and a leading ``Ġ``/``▁`` marker), is exactly ``A``,
    ``B`` or ``C`` add their probability to that letter; the three sums are renormalised to sum
    to 1 and the choice is the argmax. No letter at all: ``(-1, (nan, nan, nan))``
    (:func:`label_probabilities` with BBQ's letters).
    """
    return label_probabilities(top, LETTERS)  # type: ignore[return-value]


def impossible_logprobs(top: Iterable[tuple[Any, Any]]) -> int:
    """How many numeric log-probabilities in ``top`` are impossible: positive (beyond float
    noise, 1e-6), NaN or infinite (-inf is possible: probability 0)."""
    bad = 0
    for _, logprob in top:
        if isinstance(logprob, bool) or not isinstance(logprob, (int, float)):
            continue
        if logprob != logprob or logprob == math.inf or logprob > 1e-6:
            bad += 1
    return bad


def _first_choice(data: Any) -> dict[str, Any]:
    if isinstance(data, dict):
        choices = data.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            return choices[0]
        err = data.get("error")
        if err:
            msg = err.get("message") if isinstance(err, dict) else err
            raise _Retry("bad_response", f"error in a 2xx body: {_one_line(str(msg))}")
    raise _Retry("bad_response", "a 2xx body without choices")


def _message_text(choice: Mapping[str, Any]) -> str:
    msg = choice.get("message")
    content = msg.get("content") if isinstance(msg, dict) else choice.get("text")
    if isinstance(content, list):  # content parts
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _top_entries(choice: Mapping[str, Any]) -> list[tuple[Any, Any]] | None:
    """``(token, logprob)`` pairs of the first generated token; [] when no token was generated;
    None when the server gave no (top) log-probabilities."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return None
    content = lp.get("content")
    if isinstance(content, list):
        if not content:
            return []
        first = content[0] if isinstance(content[0], dict) else {}
        tops = first.get("top_logprobs")
    else:  # the completions layout: top_logprobs = [{token: logprob}, ...] per position
        tops = lp.get("top_logprobs")
        tops = tops[0] if isinstance(tops, list) and tops else None
    if isinstance(tops, dict) and tops:
        return list(tops.items())
    if isinstance(tops, list) and tops:
        return [(t.get("token"), t.get("logprob")) for t in tops if isinstance(t, dict)]
    return None

