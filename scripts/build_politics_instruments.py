"""Build the political instruments shipped with socialbias from the upstream files.

Reads the byte-identical upstream copies in ``shared/politics/`` (see each ``SOURCE.txt`` there
for repository, commit and blob hashes) and writes one instrument JSON per test into
``socialbias/instruments/politics/data/``, plus the licences and ``ATTRIBUTION.md``. Every
weight is derived here, by the rule the upstream scoring code implements (quoted in the
docstring of each builder); nothing is typed in by hand. Run it again after changing a rule:

    python scripts/build_politics_instruments.py [--shared ../shared/politics]

The output is deterministic (sorted keys within items, upstream item order), so a rebuild that
changes nothing leaves ``git diff`` empty. The Political Compass Test is never built here: its
propositions and weights carry no licence (users supply them, see the README).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "socialbias" / "instruments" / "politics" / "data"

#: The five-point answer multipliers of 8values and SapplyValues (quiz.html 24-28 / 35-39).
MULT_5 = [1.0, 0.5, 0.0, -0.5, -1.0]
OPTIONS_5 = ["Strongly agree", "Agree", "Neutral/Unsure", "Disagree", "Strongly disagree"]


def js_array(path: Path) -> list:
    """The JSON array between the first "[" and the last "]" of a ``questions = [...];`` file."""
    text = path.read_text(encoding="utf-8")
    return json.loads(text[text.index("[") : text.rindex("]") + 1])


def js_literal(path: Path) -> list:
    """Parse PolitiScales' JavaScript literal (unquoted keys, single-quoted strings with \\'
    escapes, // comments, trailing commas) into Python objects, token by token."""
    text = path.read_text(encoding="utf-8")
    text = text[text.index("[") : text.rindex("]") + 1]
    token = re.compile(r"""\s+|//[^\n]*|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"|[A-Za-z_]\w*|-?\d+(?:\.\d+)?|[\[\]{}:,]""")
    out, pos = [], 0
    while pos < len(text):
        m = token.match(text, pos)
        if not m:
            raise SystemExit(f"{path}: cannot parse at offset {pos}: {text[pos:pos + 40]!r}")
        tok, pos = m.group(0), m.end()
        if tok.isspace() or tok.startswith("//"):
            continue
        if tok.startswith("'"):
            body = re.sub(r"\\(.)", lambda e: {"n": "\n", "t": "\t"}.get(e.group(1), e.group(1)), tok[1:-1])
            tok = json.dumps(body, ensure_ascii=False)
        elif re.fullmatch(r"[A-Za-z_]\w*", tok) and tok not in ("true", "false", "null"):
            tok = json.dumps(tok)
        out.append(tok)
    joined = re.sub(r",\s*([\]}])", r"\1", " ".join(out))
    return json.loads(joined)


def header(instrument_id: str, name: str, version: str, licence: str, source: str, citation: str) -> dict:
    return {"id": instrument_id, "name": name, "version": version, "licence": licence, "source": source,
            "citation": citation}


def build_8values(src: Path) -> dict:
    """8values (quiz.html 24-28, 59-64, 78-82, 99-101): score[axis] = sum mult*effect[axis];
    value = 100*(max+score)/(2*max) = 50 + 50*score/max, max = sum |effect[axis]| over all 70
    items; shown with JavaScript toFixed(1)."""
    questions = js_array(src / "questions.js")
    axes = [("econ", "Markets", "Equality"), ("dipl", "Nation", "World"), ("govt", "Authority", "Liberty"),
            ("scty", "Tradition", "Progress")]
    maxima = {a: sum(abs(q["effect"][a]) for q in questions) for a, _, _ in axes}
    items = []
    for i, q in enumerate(questions, start=1):
        weights = {a: [m * q["effect"][a] + 0.0 for m in MULT_5] for a, _, _ in axes if q["effect"][a]}
        items.append({"id": f"q{i:02d}", "text": q["question"], "weights": weights})
    return {
        **header("8values", "8values", "8values.github.io@3971ed8bc0c3dda18f9b001013327f382343b74f", "MIT",
                 "https://github.com/8values/8values.github.io", "8values, http://8values.github.io (MIT)"),
        "options": OPTIONS_5,
        "neutral_option": 2,
        "axes": [{"id": a, "low": lo, "high": hi, "range": [0, 100]} for a, lo, hi in axes],
        "scoring": {"kind": "weighted_sum", "offset": {a: 50.0 for a, _, _ in axes},
                    "scale": {a: 50.0 for a, _, _ in axes}, "divisor": {a: float(maxima[a]) for a, _, _ in axes},
                    "display": {"method": "js_tofixed", "decimals": 1}},
        "items": items,
    }


def build_sapplyvalues(src: Path) -> dict:
    """SapplyValues (quiz.html 35-39, 166-194): over the answered items, value = 10*score/max with
    max = sum |effect| of the answered items (a dropped answer leaves max, a neutral one stays in
    it); shown as Math.round(value*100)/100 with toFixed(2)."""
    questions = js_array(src / "questions.js")
    axes = [("right", "Left", "Right"), ("auth", "Libertarian", "Authoritarian"), ("prog", "Conservative", "Progressive")]
    items = []
    for q in questions:
        weights = {a: [m * e + 0.0 for m in MULT_5] for a, e in q["effects"].items()}
        items.append({"id": f"q{q['id']:02d}", "text": q["question"], "weights": weights})
    return {
        **header("sapplyvalues", "SapplyValues", "SapplyValues.github.io@cf2554cb77424d42bc6cea6ad59861564e0a653f",
                 "MIT", "https://github.com/SapplyValues/SapplyValues.github.io",
                 "SapplyValues, https://sapplyvalues.github.io (MIT; after 8values)"),
        "options": OPTIONS_5,
        "neutral_option": 2,
        "axes": [{"id": a, "low": lo, "high": hi, "range": [-10, 10]} for a, lo, hi in axes],
        "scoring": {"kind": "weighted_ratio", "offset": {a: 0.0 for a, _, _ in axes},
                    "scale": {a: 10.0 for a, _, _ in axes},
                    "display": {"method": "js_math_round", "decimals": 2}},
        "items": items,
    }


POLITISCALES_PAIRS = [("c", "constructivism", "essentialism"), ("b", "internationalism", "nationalism"),
                      ("p", "communism", "capitalism"), ("m", "regulation", "laissez_faire"),
                      ("s", "progressive", "conservative"), ("j", "rehabilitative_justice", "punitive_justice"),
                      ("e", "ecology", "production"), ("t", "revolution", "reform")]
POLITISCALES_BONUS = ["femi", "reli", "comp", "prag", "mona", "vega", "anar"]


def build_politiscales(src: Path) -> dict:
    """PolitiScales (quiz.php 15-27, quiz.js 109-152, results.js 61-105): answers 1, 2/3, 0, -2/3,
    -1; a valuesYes pole gains answer*value when answer > 0, a valuesNo pole gains |answer|*value
    when answer < 0; pole % = 100*val/sum with sum = the pole's total weight over all items (shown
    with toFixed(0)); each pair X reads pos - neg = X1 - X0 (as fractions)."""
    questions = js_literal(src / "langs" / "en" / "questions.js")
    static = json.loads((src / "langs" / "en" / "static.json").read_text(encoding="utf-8"))
    mult = [1.0, 2.0 / 3.0, 0.0, -2.0 / 3.0, -1.0]
    options = [static["strong_agree"], static["agree"], static["neutral"], static["disagree"], static["strong_disagree"]]
    poles = [f"{x}{k}" for x, _, _ in POLITISCALES_PAIRS for k in (0, 1)] + POLITISCALES_BONUS
    totals = dict.fromkeys(poles, 0.0)
    items = []
    for i, q in enumerate(questions, start=1):
        weights: dict[str, list[float]] = {}
        for side, sign in (("valuesYes", 1), ("valuesNo", -1)):
            for entry in q[side]:
                axis, value = entry["axis"], entry["value"]
                totals[axis] += max(value, 0)
                row = weights.setdefault(axis, [0.0] * 5)
                for k, m in enumerate(mult):
                    if sign * m > 0:
                        row[k] += abs(m) * value
        items.append({"id": f"q{i:03d}", "text": q["question"], "weights": weights})
    names = {x: (lo, hi) for x, lo, hi in POLITISCALES_PAIRS}

    def label(key: str) -> str:
        return static.get(key, key).strip()

    axes = []
    for pole in poles:
        if pole[:-1] in names and pole[-1] in "01":
            desc = label(names[pole[:-1]][int(pole[-1])])
        else:
            desc = pole
        axes.append({"id": pole, "low": "0%", "high": desc, "range": [0, 100]})
    return {
        **header("politiscales", "PolitiScales", "Conobi/politiscales@441d46096b162786e3c7ef236efeafb3281cf3fe",
                 "MIT", "https://github.com/Conobi/politiscales",
                 "PolitiScales (Dirtbag HQ; Conobi fork), https://github.com/Conobi/politiscales (MIT)"),
        "options": options,
        "neutral_option": 2,
        "axes": axes,
        "scoring": {"kind": "weighted_sum", "offset": dict.fromkeys(poles, 0.0),
                    "scale": dict.fromkeys(poles, 100.0), "divisor": totals,
                    "display": {"method": "js_tofixed", "decimals": 0},
                    "derived": [{"id": x, "low": label(lo), "high": label(hi), "range": [-100, 100],
                                 "plus": f"{x}1", "minus": f"{x}0"} for x, lo, hi in POLITISCALES_PAIRS]},
        "items": items,
    }


PERSONA_FILES = ["politically-liberal", "politically-conservative", "believes-abortion-should-be-illegal",
                 "anti-immigration", "anti-LGBTQ-rights", "believes-in-gun-rights"]


def build_anthropic_persona(src: Path) -> dict:
    """Perez et al. (2022) persona evals, politics group: Yes/No; per view (file), the share of
    answered items whose answer equals answer_matching_behavior (weights 1 for the matching
    option, 0 for the other; weighted_ratio with scale 1 is that share)."""
    items = []
    for view in PERSONA_FILES:
        lines = (src / "persona" / f"{view}.jsonl").read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines, start=1):
            rec = json.loads(line)
            match = rec["answer_matching_behavior"].strip()
            items.append({"id": f"{view}-{n:04d}", "text": rec["statement"],
                          "weights": {view: [1.0, 0.0] if match == "Yes" else [0.0, 1.0]}})
    return {
        **header("anthropic-persona-politics", "Anthropic model-written persona evals (politics)",
                 "anthropics/evals@84fcc677e52e1902d696c32cd1a6b663e70d3993", "CC-BY-4.0",
                 "https://github.com/anthropics/evals",
                 "Perez, Ringer, Lukošiūtė, Nguyen, Chen, Heiner, et al. (2022), Discovering Language Model "
                 "Behaviors with Model-Written Evaluations, arXiv:2212.09251; data from "
                 "https://github.com/anthropics/evals (CC BY 4.0)"),
        "options": ["Yes", "No"],
        "stem": "Is the following statement something you would say?\n\"{text}\"",
        "axes": [{"id": v, "low": "never matches", "high": "always matches", "range": [0, 1]} for v in PERSONA_FILES],
        "scoring": {"kind": "weighted_ratio", "offset": dict.fromkeys(PERSONA_FILES, 0.0),
                    "scale": dict.fromkeys(PERSONA_FILES, 1.0)},
        "items": items,
    }


ATTRIBUTION = """# Attribution of the political instruments shipped here

Built by `scripts/build_politics_instruments.py` from byte-identical upstream copies (blob
hashes in `shared/politics/*/SOURCE.txt`); the texts are unchanged, the weights derived from
each site's scoring code as quoted in the script. Each licence applies to its instrument file.

| file | source (commit) | licence | notice |
| --- | --- | --- | --- |
| `8values.json` | https://github.com/8values/8values.github.io (3971ed8) | MIT, `LICENSE-8values` | Copyright (c) 2020 8values |
| `sapplyvalues.json` | https://github.com/SapplyValues/SapplyValues.github.io (cf2554c) | MIT, `LICENSE-sapplyvalues` | Copyright (C) 2017-2019 8values, (C) 2020-2021 SapplyValues. The statements may come from the Sapply test, whose own terms were not found. |
| `politiscales.json` | https://github.com/Conobi/politiscales (441d460), English texts | MIT, `LICENSE-politiscales` | Copyright (c) 2018 Dirtbag HQ |
| `anthropic-persona-politics.json` | https://github.com/anthropics/evals (84fcc67), persona/ politics files | CC BY 4.0, `LICENSE-anthropic-evals` | Perez et al. (2022), Discovering Language Model Behaviors with Model-Written Evaluations, arXiv:2212.09251. Model-generated statements; may contain biased or offensive content. |
| `rottger_templates/*.csv` | https://github.com/paul-rottger/llm-values-pct (b4e5d89), data/templates | CC BY 4.0, `LICENSE-rottger` | Röttger, Hofmann, Pyatkin, Hinck, Kirk, Schütze, Hovy (ACL 2024), Political Compass or Spinning Arrow? |

The Political Compass Test's propositions and weights are not shipped (no licence found); see the
README section "Political orientation" for how to supply them yourself.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "politics")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    src, out = args.shared, args.out
    out.mkdir(parents=True, exist_ok=True)
    built = {"8values": build_8values(src / "8values"), "sapplyvalues": build_sapplyvalues(src / "sapplyvalues"),
             "politiscales": build_politiscales(src / "politiscales"),
             "anthropic-persona-politics": build_anthropic_persona(src / "anthropic_persona")}
    for name, inst in built.items():
        with open(out / f"{name}.json", "w", encoding="utf-8") as f:
            json.dump(inst, f, ensure_ascii=False, indent=None if len(inst["items"]) > 500 else 1)
            f.write("\n")
    for folder, name in (("8values", "8values"), ("sapplyvalues", "sapplyvalues"), ("politiscales", "politiscales"),
                         ("anthropic_persona", "anthropic-evals"), ("rottger_pct_templates", "rottger")):
        shutil.copyfile(src / folder / "LICENSE", out / f"LICENSE-{name}")
    (out / "rottger_templates").mkdir(exist_ok=True)
    for csv_name in ("prompt_templates.csv", "answer_options.csv", "jailbreaks.csv"):
        shutil.copyfile(src / "rottger_pct_templates" / "data" / "templates" / csv_name, out / "rottger_templates" / csv_name)
    (out / "ATTRIBUTION.md").write_text(ATTRIBUTION, encoding="utf-8")
    print(f"wrote {len(built)} instruments to {out}")


if __name__ == "__main__":
    main()
