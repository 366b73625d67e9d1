"""The answers table: its columns, its validation, and its encoding into integer arrays.

The answers table has one row per model response (see :data:`ANSWER_COLUMNS`). Scoring
starts by validating it and turning it into :class:`Responses`: every string column is
factorised (sorted, so codes do not depend on row order), rows are put in a canonical order
(stratum, item, persona, run), and known-defective items (``excluded``) are dropped unless
asked for. Everything downstream works on these integer arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import MetricsInputError

#: Columns the answers table must have, in the documented order.
ANSWER_COLUMNS: tuple[str, ...] = (
    "model",
    "category",
    "context_condition",
    "item_id",
    "polarity",
    "persona",
    "run",
    "choice",
    "label",
    "unknown_idx",
    "stereotyped_idx",
    "target0",
    "target1",
    "target2",
    "excluded",
)
#: Optional column: the target label the persona belongs to ("" if none).
MEMBER_COLUMN = "persona_member_of"
#: Optional column: True for a placebo persona, an identity-free role (e.g. "a person who enjoys
#: gardening") asked as a control group; it belongs to no target group and is not one of the
#: personas PB averages over (docs/method.md section 8, "The floor"; :mod:`metrics.placebo`).
PLACEBO_COLUMN = "persona_placebo"
#: Optional column: the item's template (BBQ's ``question_index``); items of one template
#: share their context and names, so they are resampled together (:mod:`metrics.clusters`).
TEMPLATE_COLUMN = "question_index"
#: The persona value of the default model (no persona, empty system message).
DEFAULT_PERSONA = ""
#: The target label of the "unknown" option.
UNKNOWN_TARGET = "unknown"
CONTEXTS: tuple[str, str] = ("ambig", "disambig")
POLARITIES: tuple[str, str] = ("neg", "nonneg")
#: Keys of one stratum: every metric is computed separately per stratum.
STRATUM_KEYS: tuple[str, str, str] = ("model", "category", "context_condition")


@dataclass(frozen=True)
class Responses:
    """A validated answers table as integer arrays, rows in canonical order.

    Codes index the sorted vocabularies (``strata``, ``personas``, ``runs``, ``targets``,
    ``units``). ``x``/``y`` are the item's two target options, in option order; ``choice``
    is the *effective* choice: a "none" answer (-1) is replaced by the unknown option, as the
    protocol prescribes ("none counts as the unknown option in every metric"), and
    ``invalid`` remembers which answers were "none".
    """

    strata: pd.DataFrame  # model, category, context_condition; row i = stratum code i
    stratum: np.ndarray
    personas: np.ndarray  # sorted persona names; "" (default) first when present
    persona: np.ndarray
    runs: np.ndarray  # sorted run values
    run: np.ndarray
    units: pd.DataFrame  # stratum, item_id[, template]; row i = item i (sorted by stratum)
    unit: np.ndarray
    targets: np.ndarray  # sorted target labels (without "unknown")
    tx: np.ndarray
    ty: np.ndarray
    ix: np.ndarray  # option position of target x
    iy: np.ndarray
    choice: np.ndarray  # effective choice 0..2
    invalid: np.ndarray  # bool: the answer was "none" (-1)
    label: np.ndarray
    unknown: np.ndarray
    stereotyped: np.ndarray  # -1 where undefined
    neg: np.ndarray  # bool: negative question
    member: pd.DataFrame  # category (name), persona (code), member_of (label): personas with a group
    n_excluded: np.ndarray  # per stratum: responses dropped as excluded
    placebo: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # per persona code: a placebo role

    @property
    def n(self) -> int:
        return int(self.stratum.size)

    @property
    def default_code(self) -> int:
        """Code of the default persona, or -1 when the table has no default responses."""
        return 0 if self.personas.size and self.personas[0] == DEFAULT_PERSONA else -1


def _fail(column: str, problem: str, fix: str) -> MetricsInputError:
    return MetricsInputError(f"answers column {column!r}: {problem}. Fix: {fix}.")


def _example(mask: np.ndarray, values: pd.Series) -> str:
    idx = np.flatnonzero(mask)[:3]
    return ", ".join(f"row {values.index[i]!r} = {values.iloc[i]!r}" for i in idx)


def _int_column(df: pd.DataFrame, col: str, allowed: tuple[int, ...] | None = None) -> np.ndarray:
    """The column as int64, refusing missing, non-integral and (optionally) unlisted values."""
    s = df[col]
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        raise _fail(col, f"must hold integers, found dtype {s.dtype}", f"convert {col!r} to int")
    na = s.isna().to_numpy()
    if na.any():
        raise _fail(col, f"{int(na.sum())} missing values ({_example(na, s)})",
                    f"fill {col!r}; use -1 where the protocol allows 'none/undefined'")
    a = s.to_numpy()
    if a.dtype.kind == "f":
        bad = a != np.round(a)
        if bad.any():
            raise _fail(col, f"non-integer values ({_example(bad, s)})", f"store {col!r} as int")
    a = a.astype(np.int64)
    if allowed is not None:  # a range of integers: two comparisons, not a set lookup per row
        is_range = list(allowed) == list(range(min(allowed), max(allowed) + 1))
        bad = ((a < min(allowed)) | (a > max(allowed))) if is_range else ~np.isin(a, allowed)
        if bad.any():
            raise _fail(col, f"values outside {list(allowed)} ({_example(bad, s)})",
                        f"map {col!r} into {list(allowed)}")
    return a


def _codes(df: pd.DataFrame, col: str, fix: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted factorisation of a label column; missing values raise."""
    codes, uniques = pd.factorize(df[col], sort=True)
    missing = codes < 0
    if missing.any():
        raise _fail(col, f"{int(missing.sum())} missing values ({_example(missing, df[col])})", fix)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _check_allowed(col: str, uniques: np.ndarray, allowed: tuple[str, ...]) -> None:
    bad = [u for u in uniques if u not in allowed]
    if bad:
        raise _fail(col, f"unexpected values {bad[:5]}", f"use only {list(allowed)}")


def rank_keys(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense sorted codes of an int64 key array: (codes, sorted unique keys). Keys within a
    range not much larger than the array are ranked by counting (linear, no sort of 1.6 M
    keys); others by ``np.unique``. Both give the same codes."""
    values = np.asarray(values, dtype=np.int64)
    if values.size:
        low, high = int(values.min()), int(values.max())
        if high - low <= 2 * values.size + 1024:
            present = np.bincount(values - low, minlength=high - low + 1) > 0
            rank = np.cumsum(present) - 1
            return rank[values - low], np.flatnonzero(present) + low
    uniq, inv = np.unique(values, return_inverse=True)
    return inv.reshape(-1).astype(np.int64), uniq


def _member_table(
    df: pd.DataFrame,
    personas_table: pd.DataFrame | None,
    category_codes: np.ndarray,
    categories: np.ndarray,
    persona_codes: np.ndarray,
    personas: np.ndarray,
) -> pd.DataFrame:
    """(category, persona) -> member_of label for personas that belong to a target group.

    Read from the optional ``persona_member_of`` column, else from ``personas_table``
    (columns ``persona, member_of`` and optionally ``persona_category`` to tell apart a
    persona name used in two categories, e.g. "Jewish" in Religion and Race_ethnicity).
    """
    empty = pd.DataFrame({"category": np.array([], np.int64), "persona": np.array([], np.int64),
                          "member_of": np.array([], object)})
    if MEMBER_COLUMN in df.columns:
        mem_codes, mem_uniques = _codes(df, MEMBER_COLUMN, 'use "" for personas without a group')
        # the distinct (category, persona, member_of) triples, sorted, from one integer key
        n_p, n_m = max(personas.size, 1), max(mem_uniques.size, 1)
        triples = rank_keys((category_codes * n_p + persona_codes) * n_m + mem_codes)[1]
        cell = triples // n_m
        if (cell[1:] == cell[:-1]).any():  # a (category, persona) with two member_of values
            pairs = pd.DataFrame({"category": category_codes, "persona": persona_codes,
                                  "m": mem_codes}).drop_duplicates()  # the first such pair in row order is named
            row = pairs[pairs.duplicated(["category", "persona"], keep=False)].iloc[0]
            raise _fail(MEMBER_COLUMN,
                        f"persona {personas[row.persona]!r} has several member_of values in "
                        f"category {categories[row.category]!r}",
                        "give each (category, persona) one member_of value")
        named = mem_uniques[triples % n_m] != ""
        return pd.DataFrame({"category": cell[named] // n_p, "persona": cell[named] % n_p,
                             "member_of": mem_uniques[triples[named] % n_m]})
    if personas_table is None:
        return empty
    need = {"persona", "member_of"}
    if not need <= set(personas_table.columns):
        raise MetricsInputError(
            f"personas table lacks columns {sorted(need - set(personas_table.columns))}. "
            "Fix: pass a table with columns persona, member_of[, persona_category]."
        )
    pt = personas_table.copy()
    pt["member_of"] = pt["member_of"].fillna("").astype(str)
    pt = pt[pt["member_of"] != ""]
    pairs = pd.DataFrame({"category": category_codes, "persona": persona_codes}).drop_duplicates()
    pairs["category_name"] = categories[pairs["category"].to_numpy()]
    pairs["persona_name"] = personas[pairs["persona"].to_numpy()]
    on_l, on_r = ["persona_name"], ["persona"]
    if "persona_category" in pt.columns:
        on_l, on_r = ["category_name", "persona_name"], ["persona_category", "persona"]
    pt = pt.drop_duplicates(on_r + ["member_of"])
    if pt.duplicated(on_r).any():
        raise MetricsInputError(
            "personas table gives one persona several member_of values. Fix: add a "
            "persona_category column or keep one member_of per persona."
        )
    merged = pairs.merge(pt[on_r + ["member_of"]], left_on=on_l, right_on=on_r, how="inner",
                         suffixes=("", "_pt"))
    out = merged[["category", "persona", "member_of"]]
    return out.sort_values(["category", "persona"]).reset_index(drop=True)


def placebo_flags(df: pd.DataFrame, column: str, persona_codes: np.ndarray, personas: np.ndarray,
                  personas_table: pd.DataFrame | None) -> np.ndarray:
    """Per persona name (the full vocabulary): is it a placebo role? From the optional answers
    column ``persona_placebo``, else from a ``placebo`` column of ``personas_table``; the
    default persona never is. A persona flagged in some rows and not in others is an error."""
    flags = np.zeros(personas.size, dtype=bool)
    if column in df.columns:
        col = df[column]
        if col.isna().any() or not (pd.api.types.is_bool_dtype(col) or set(np.unique(col.to_numpy())) <= {0, 1}):
            raise _fail(column, f"must be boolean without missing values (dtype {col.dtype})",
                        "set it True for placebo roles and False for every other persona")
        v = col.to_numpy().astype(bool)
        hits = np.bincount(persona_codes, weights=v, minlength=personas.size)
        rows = np.bincount(persona_codes, minlength=personas.size)
        mixed = (hits > 0) & (hits < rows)
        if mixed.any():
            raise _fail(column, f"persona {personas[np.flatnonzero(mixed)[0]]!r} is a placebo in some rows only",
                        "flag every response of a persona the same way")
        flags = hits > 0
    elif personas_table is not None and "placebo" in personas_table.columns:
        named = set(personas_table.loc[personas_table["placebo"].fillna(False).astype(bool), "persona"].astype(str))
        flags = np.array([str(p) in named for p in personas], dtype=bool)
    is_default = personas == DEFAULT_PERSONA
    if (flags & is_default).any():
        raise _fail(column, "the default persona (\"\") is flagged as a placebo",
                    "the default is the model without a persona; flag only identity-free roles")
    return flags


_CATEGORY_FIX = "name the BBQ category of every response"


def _persona_codes(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Sorted codes of the persona column and the persona names as ``str``."""
    codes, names = _codes(df, "persona", 'use "" (empty string) for the default persona')
    return codes, np.array([str(p) for p in names], dtype=object)


def check_across_strata(answers: pd.DataFrame, *, personas: pd.DataFrame | None = None) -> None:
    """The checks of :func:`prepare_answers` that look at the answers of several strata at
    once: one ``member_of`` per (category, persona) and one placebo flag per persona, over
    every model. Every other check looks at one row or one stratum, so a table cut into
    parts of whole strata (:mod:`metrics.parts`) is refused by a part exactly when, or this
    check is failed exactly when, :func:`prepare_answers` refuses the whole table."""
    cat_c, categories = _codes(answers, "category", _CATEGORY_FIX)
    pers_c, pers = _persona_codes(answers)
    _member_table(answers, personas, cat_c, categories, pers_c, pers)
    placebo_flags(answers, PLACEBO_COLUMN, pers_c, pers, personas)


def prepare_answers(
    answers: pd.DataFrame,
    *,
    include_excluded: bool = False,
    personas: pd.DataFrame | None = None,
) -> Responses:
    """Validate the answers table and encode it as :class:`Responses`.

    Raises :class:`~metrics.MetricsInputError` naming the column and the fix for: a missing
    column, missing values, values outside their domain (``context_condition`` not in
    ambig/disambig, ``polarity`` not in neg/nonneg, ``choice`` not in -1..2, ``label`` and
    ``unknown_idx`` not in 0..2, ``stereotyped_idx`` not in -1..2 or equal to
    ``unknown_idx``, ``run`` < 0), a target at ``unknown_idx`` that is not "unknown" or a
    target option labelled "unknown"/"", and duplicate responses (same model, category,
    context, item, persona and run twice).
    """
    if not isinstance(answers, pd.DataFrame):
        raise MetricsInputError(f"answers must be a pandas DataFrame, got {type(answers).__name__}. "
                                "Fix: build the answers table as a DataFrame.")
    missing = [c for c in ANSWER_COLUMNS if c not in answers.columns]
    if missing:
        raise MetricsInputError(
            f"answers table lacks column(s) {missing}. Fix: add them (see metrics.ANSWER_COLUMNS"
            "; 'excluded' is False for every item without a known defect)."
        )
    if len(answers) == 0:
        raise MetricsInputError("answers table is empty. Fix: pass at least one response.")
    df = answers

    model_c, models = _codes(df, "model", "name the model of every response")
    cat_c, categories = _codes(df, "category", _CATEGORY_FIX)
    ctx_c, ctxs = _codes(df, "context_condition", "use 'ambig' or 'disambig'")
    _check_allowed("context_condition", ctxs, CONTEXTS)
    pol_c, pols = _codes(df, "polarity", "use 'neg' or 'nonneg'")
    _check_allowed("polarity", pols, POLARITIES)
    item_c, items = _codes(df, "item_id", "give every response the id of its BBQ item")
    pers_c, pers = _persona_codes(df)

    run = _int_column(df, "run")
    if (run < 0).any():
        raise _fail("run", "negative values", "number instructions 0, 1, 2, ...")
    choice = _int_column(df, "choice", (-1, 0, 1, 2))
    label = _int_column(df, "label", (0, 1, 2))
    unknown = _int_column(df, "unknown_idx", (0, 1, 2))
    stereo = _int_column(df, "stereotyped_idx", (-1, 0, 1, 2))
    bad = stereo == unknown
    if bad.any():
        raise _fail("stereotyped_idx", f"equals unknown_idx ({_example(bad, df['stereotyped_idx'])})",
                    "point stereotyped_idx at a target option, or -1 where undefined")

    ex = df["excluded"]
    if ex.isna().any() or not (pd.api.types.is_bool_dtype(ex) or
                               set(np.unique(ex.to_numpy())) <= {0, 1}):
        raise _fail("excluded", f"must be boolean without missing values (dtype {ex.dtype})",
                    "set excluded=False for items without a known defect")
    excluded = ex.to_numpy().astype(bool)

    # Targets: one sorted vocabulary over the three option columns.
    tcodes, tvocabs = [], []
    for k in range(3):
        c, u = _codes(df, f"target{k}", f"label every option's target ('{UNKNOWN_TARGET}' for the unknown option)")
        tcodes.append(c)
        tvocabs.append(np.array([str(x) for x in u], dtype=object))
    vocab = np.unique(np.concatenate(tvocabs))
    tmat = np.stack([np.searchsorted(vocab, tvocabs[k])[tcodes[k]] for k in range(3)], axis=1)
    unk_code = int(np.searchsorted(vocab, UNKNOWN_TARGET))
    has_unk = unk_code < vocab.size and vocab[unk_code] == UNKNOWN_TARGET
    rows = np.arange(len(df))
    at_unknown = tmat[rows, unknown]
    bad = (at_unknown != unk_code) if has_unk else np.ones(rows.size, dtype=bool)
    if bad.any():
        raise _fail("target0/target1/target2", f"the target at unknown_idx is not '{UNKNOWN_TARGET}' "
                    f"({_example(bad, df['unknown_idx'])})", f"label the unknown option '{UNKNOWN_TARGET}'")
    ix = (unknown + 1) % 3
    iy = (unknown + 2) % 3
    tx_full, ty_full = tmat[rows, ix], tmat[rows, iy]
    empty_code = np.searchsorted(vocab, "")
    has_empty = empty_code < vocab.size and vocab[empty_code] == ""
    bad = (tx_full == unk_code) | (ty_full == unk_code)
    if has_empty:
        bad |= (tx_full == empty_code) | (ty_full == empty_code)
    if bad.any():
        raise _fail("target0/target1/target2", f"a target option is labelled '' or '{UNKNOWN_TARGET}' "
                    f"({_example(bad, df['item_id'])})", "give both target options their group label")

    # Strata over all rows (so that a stratum whose items are all excluded is still reported).
    n_cat, n_ctx = categories.size, 2
    ctx_idx = np.searchsorted(np.array(CONTEXTS, dtype=object), ctxs)[ctx_c]
    stratum_all, skeys = rank_keys((model_c * n_cat + cat_c) * n_ctx + ctx_idx)
    strata = pd.DataFrame({
        "model": models[skeys // (n_cat * n_ctx)].astype(str),
        "category": categories[(skeys // n_ctx) % n_cat].astype(str),
        "context_condition": np.array(CONTEXTS, dtype=object)[skeys % n_ctx].astype(str),
    })
    n_excluded = np.bincount(stratum_all[excluded], minlength=len(strata)).astype(np.int64)
    keep = np.ones(len(df), bool) if include_excluded else ~excluded
    if include_excluded:
        n_excluded[:] = 0
    if not keep.any():
        raise MetricsInputError("every response is excluded. Fix: pass include_excluded=True "
                                "or include items without known defects.")
    # Targets in use: drop "unknown" from the vocabulary, recode.
    tvoc_keep = np.array([t != UNKNOWN_TARGET for t in vocab])
    remap = np.cumsum(tvoc_keep) - 1
    targets = vocab[tvoc_keep].astype(str)

    member = _member_table(df, personas, cat_c, categories, pers_c, pers)
    placebo = placebo_flags(df, PLACEBO_COLUMN, pers_c, pers, personas)
    member["category"] = categories[member["category"].to_numpy(np.int64)].astype(str)

    # Restrict to kept rows and order them canonically.
    stratum = stratum_all[keep]
    unit, ukeys = rank_keys(stratum * items.size + item_c[keep])
    p_used, pkeys = rank_keys(pers_c[keep])
    r_used, rvals = rank_keys(run[keep])
    order = np.lexsort((r_used, p_used, unit))
    unit, p_used, r_used = unit[order], p_used[order], r_used[order]
    dup = (np.diff(unit) == 0) & (np.diff(p_used) == 0) & (np.diff(r_used) == 0)
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        s = int(ukeys[unit[i]] // items.size)
        raise MetricsInputError(
            f"duplicate responses: item {items[ukeys[unit[i]] % items.size]!r} of "
            f"{tuple(strata.iloc[s])} answered twice by persona {pers[pkeys[p_used[i]]]!r} in "
            f"run {rvals[r_used[i]]}. Fix: keep one response per (model, category, "
            "context_condition, item_id, persona, run)."
        )
    src = np.flatnonzero(keep)[order]
    if placebo.any() and len(member) and placebo[member["persona"].to_numpy()].any():
        bad = pers[member["persona"].to_numpy()[placebo[member["persona"].to_numpy()]][0]]
        raise _fail(PLACEBO_COLUMN, f"placebo persona {bad!r} belongs to a target group (member_of)",
                    "a placebo role is identity-free: give it member_of \"\" or do not flag it as placebo")
    # Map member table persona codes from the full vocabulary to the kept one.
    kept_pos = np.full(pers.size, -1, np.int64)
    kept_pos[pkeys] = np.arange(pkeys.size)
    member["persona"] = kept_pos[member["persona"].to_numpy()]
    member = member[member["persona"] >= 0].reset_index(drop=True)

    ch = choice[src]
    unk = unknown[src]
    units = pd.DataFrame({"stratum": ukeys // items.size, "item_id": items[ukeys % items.size]})
    if TEMPLATE_COLUMN in df.columns:
        template = df[TEMPLATE_COLUMN]
        if isinstance(template.dtype, pd.CategoricalDtype) and template.notna().all():  # from its codes
            names = template.cat.categories.astype(str).to_numpy(dtype=object)
            tmpl = names[template.cat.codes.to_numpy()[src]]
        else:
            tmpl = template.astype(str).to_numpy()[src]
        unit_tmpl = np.empty(len(units), dtype=object)
        unit_tmpl[unit] = tmpl
        units["template"] = unit_tmpl.astype(str)
    return Responses(
        strata=strata,
        stratum=stratum[order],
        personas=pers[pkeys].astype(str),
        persona=p_used,
        runs=rvals,
        run=r_used,
        units=units,
        unit=unit,
        targets=targets,
        tx=remap[tx_full[src]],
        ty=remap[ty_full[src]],
        ix=ix[src],
        iy=iy[src],
        choice=np.where(ch < 0, unk, ch),
        invalid=ch < 0,
        label=label[src],
        unknown=unk,
        stereotyped=stereo[src],
        neg=np.isin(pol_c[src], np.flatnonzero(pols == "neg")),
        member=member,
        n_excluded=n_excluded,
        placebo=placebo[pkeys],
    )
