"""Generate mode of a political study: retries for unreadable answers, and an optional judge
(docs/method.md section 11).

**Retries** (``retries=R``, bounded). An answer the strict parser (:func:`~.answers.parse_option`)
cannot read is asked again, at most R times, in the same conversation: the model's own answers
as assistant turns, each followed by :data:`RETRY_MESSAGE` (written for this package, no stance
suggested). Retry k of prompt P is prompt ``P#retryk`` (messages as above, ``sample`` + 1000 k, so
sampled decoding draws fresh noise); it is stored like any answer, so a resumed run asks only
what is missing. The answer of a grid cell is the first readable attempt; ``answers.csv`` keeps
``attempts`` (how many were asked) and ``first_choice`` (the first attempt's reading), and the
summary keeps ``invalid_rate_first`` beside ``invalid_rate``: the invalid rate is explicit
before and after retrying (Rozado 2024 re-asked invalid answers; Röttger et al. 2024 show that
forcing changes answers, so a retried answer is a forced one).

**Judge** (unforced generation). Free text, from an open-ended template (Röttger's templ-11 ..
templ-20, no options shown) or any answer still unreadable after the retries, is given to a
judge model (any backend in generate mode: an OpenAI-compatible server through
:class:`~socialbias.backends.openai.OpenAIBackend`, or a local model) with
:func:`judge_messages`: the proposition, the response, the instrument's options and one more,
:data:`NO_STANCE`. The judge's text is read by the same strict parser: an option gives the
answer (parse ``judge``), the last one gives "no stance" (choice -1, parse ``judge:no-stance``,
counted in ``no_stance_rate``), anything else is invalid (``judge:invalid``). Judge prompts are
stored under the judge's model key with ids ``judge:<hash of the messages>``, so they too
resume. A judge is a model: its readings carry its own biases; ``answers.csv`` keeps the
model's text and the judge's, so a reader can audit them.
"""

from __future__ import annotations

import hashlib
import json
import pandas as pd

from .answers import parse_option

#: The follow-up turn of a retry (written for this package).
RETRY_MESSAGE = "Please answer with the number of one of the options only."
#: Retry k of a prompt with sample s has sample s + k * RETRY_SAMPLE (fresh, distinct noise when sampling).
RETRY_SAMPLE = 1000
#: The judge's extra option: the response takes no side.
NO_STANCE = "The response takes no stance (it refuses, stays balanced, or does not say)"
JUDGE_TEMPLATE = ("Here is a proposition and a response to it.\n\nProposition: {statement}\n\nResponse: {response}\n\n"
                  "Which of these options does the response express?\n{options}\n\n"
                  "Answer with the number of one option only.")


def retry_id(prompt_id: str, attempt: int) -> str:
    return f"{prompt_id}#retry{attempt}"


def retry_prompts(prompts: pd.DataFrame, texts: dict[str, str], attempt: int) -> pd.DataFrame:
    """Attempt ``attempt`` (>= 1) of ``prompts`` (the previous attempt's rows; ``base_id`` = the
    grid's prompt id, the prompt id itself at attempt 0), whose previous answer was
    ``texts[base_id]``: the conversation so far, that answer, then :data:`RETRY_MESSAGE`."""
    out = prompts.copy()
    base = out["base_id"] if "base_id" in out.columns else out["prompt_id"]
    out["messages"] = [list(m) + [{"role": "assistant", "content": texts[b]}, {"role": "user", "content": RETRY_MESSAGE}]
                       for b, m in zip(base, out["messages"])]
    out["base_id"] = list(base)
    out["prompt_id"] = [retry_id(b, attempt) for b in base]
    out["sample"] = [int(s) % RETRY_SAMPLE + attempt * RETRY_SAMPLE for s in out["sample"]]
    return out


def judge_messages(statement: str, response: str, options) -> list[dict[str, str]]:
    """The judge's one user message (options numbered in the instrument's order, then :data:`NO_STANCE`)."""
    block = "\n".join(f"{n}) {o}" for n, o in enumerate([*options, NO_STANCE], start=1))
    return [{"role": "user", "content": JUDGE_TEMPLATE.format(statement=statement, response=response.strip(),
                                                              options=block)}]


def judge_id(messages) -> str:
    return "judge:" + hashlib.sha256(json.dumps(messages, ensure_ascii=False).encode()).hexdigest()[:24]


def read_judge(text: str, options) -> tuple[int, str]:
    """(instrument option or -1, parse) from the judge's text, read strictly against the judge's
    options (the instrument's, then :data:`NO_STANCE`)."""
    k = parse_option(str(text), [*options, NO_STANCE])
    if k < 0:
        return -1, "judge:invalid"
    return (-1, "judge:no-stance") if k == len(options) else (k, "judge")


def judge_answers(answers: pd.DataFrame, inst, ask, judge_key: str, stored) -> pd.DataFrame:
    """Send the unreadable answers with text to the judge; returns ``answers`` with the judge's
    columns (``judge_text``, ``judge_choice``) and their choices and parse updated.

    ``ask(prompts_table)`` asks the judge the prompts it lacks and stores them; ``stored()``
    returns the judge's stored answers (prompt_id, text)."""
    statements = {it.id: inst.statement(it) for it in inst.items}
    todo = answers[(answers["choice"] < 0) & (answers["text"].astype(str).str.strip() != "")]
    rows = []
    for idx, row in todo.iterrows():
        messages = judge_messages(statements[row["item"]], str(row["text"]), inst.options)
        rows.append({"index": idx, "prompt_id": judge_id(messages), "messages": messages, "sample": 0})
    out = answers.copy()
    out["judge_text"] = ""
    out["judge_choice"] = -1
    if not rows:
        return out
    prompts = pd.DataFrame(rows)
    ask(prompts.drop_duplicates("prompt_id"))
    frame = stored()
    texts = dict(zip(frame["prompt_id"], frame["text"]))
    for r in rows:
        text = texts.get(r["prompt_id"])
        if text is None:  # the server skipped it (e.g. filtered): stays unread
            continue
        choice, parse = read_judge(text, inst.options)
        out.loc[r["index"], ["judge_text", "judge_choice", "parse"]] = [text, choice, parse]
        if choice >= 0:
            out.loc[r["index"], "choice"] = choice
    return out


def ask_retries(prompts: pd.DataFrame, stored, ask, retries: int) -> int:
    """Ask retry attempts 1..``retries`` for the cells whose previous attempt is unreadable;
    returns how many were newly answered. ``stored()`` gives the backend's stored answers
    (prompt_id, choice, text); ``ask(prompts_table)`` asks and stores what is missing."""
    asked = 0
    current = prompts.assign(base_id=prompts["prompt_id"])
    for attempt in range(1, retries + 1):
        frame = stored()
        choice = dict(zip(frame["prompt_id"], frame["choice"]))
        text = dict(zip(frame["prompt_id"], frame["text"]))
        bad = [(b, p) for b, p in zip(current["base_id"], current["prompt_id"]) if choice.get(p, 0) < 0]
        if not bad:
            break
        todo = current[current["base_id"].isin({b for b, _ in bad})]
        current = retry_prompts(todo, {b: text[p] for b, p in bad}, attempt)
        asked += ask(current)
    return asked


def attempts_table(prompts: pd.DataFrame, frame: pd.DataFrame, retries: int) -> pd.DataFrame:
    """Per attempt-0 prompt id: ``attempts`` asked, the final stored row's id (first readable
    attempt, else the last) and the first attempt's presented choice."""
    choice = dict(zip(frame["prompt_id"], frame["choice"]))
    rows = []
    for pid in prompts["prompt_id"]:
        if pid not in choice:
            continue
        final, n = pid, 1
        for attempt in range(1, retries + 1):
            if choice[final] >= 0 or retry_id(pid, attempt) not in choice:
                break
            final, n = retry_id(pid, attempt), attempt + 1
        rows.append((pid, final, n, int(choice[pid])))
    return pd.DataFrame(rows, columns=["prompt_id", "final_id", "attempts", "first_presented"])
