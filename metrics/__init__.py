"""metrics: social-bias metrics of persona-conditioned BBQ answers.

Pure functions of pandas tables (no dependency on the rest of ``socialbias``). The entry
point is :func:`score_answers`, which takes the *answers table* (one row per model response;
columns :data:`ANSWER_COLUMNS`, optional ``persona_member_of``) and returns
:class:`MetricResults`: the paper's target bias (TB), bias amount (BAmt) and persona bias
(PB) of Shin et al. (Findings of ACL 2024), BBQ bias scores (Parrish et al., 2022, and the
paper's variant), accuracy and invalid-answer rate, percentile bootstrap intervals over
items, a PB noise floor, null-model-grounded model types, in-group favouritism and per-target
persona shifts.

Modules: :mod:`metrics.schema` (the answers table), :mod:`metrics.counters` (section 5
counters), :mod:`metrics.bias` (TB, BAmt, PB), :mod:`metrics.bbq_scores`,
:mod:`metrics.bootstrap`, :mod:`metrics.model_types`, :mod:`metrics.extras`,
:mod:`metrics.results`, :mod:`metrics.score`.
"""

from .bias import perception_counters
from .errors import MetricsInputError
from .model_types import TYPES, TypeThresholds
from .results import SUMMARY_HEAD, TABLES, MetricResults
from .schema import ANSWER_COLUMNS, DEFAULT_PERSONA, UNKNOWN_TARGET, prepare_answers
from .score import score_answers

__all__ = [
    "ANSWER_COLUMNS",
    "DEFAULT_PERSONA",
    "UNKNOWN_TARGET",
    "SUMMARY_HEAD",
    "TABLES",
    "TYPES",
    "MetricResults",
    "MetricsInputError",
    "TypeThresholds",
    "perception_counters",
    "prepare_answers",
    "score_answers",
]
