"""Stage 2, citizen survey (Bürgerbefragung): codebook, import, cleaning,
weighting, estimates and disclosure control.

Typical flow::

    cb = load_codebook(path, districts)                   # codebook.py
    raw = read_responses(file, cb, column_map)            # importing.py
    clean = clean_responses(raw, cb, rules)               # cleaning.py -> data, log, issues
    w, report = weight_survey(clean.data, population)     # weighting.py
    tidy = estimate_question(clean.data, w, cb, "F01", by="sex")   # estimates.py
    public = apply_disclosure(tidy, min_cell=5, min_base=30)       # disclosure.py
"""

from kit.survey.cleaning import AGE_GROUPS, CleanResult, clean_responses
from kit.survey.codebook import Codebook, ConsistencyRule, Item, load_codebook
from kit.disclosure import apply_disclosure, district_keywords, free_text_summary
from kit.survey.estimates import (
    TIDY_COLUMNS,
    collapse,
    cronbach_alpha,
    estimate_mean,
    estimate_question,
    estimate_survey,
    rao_scott_test,
    scale_index,
    weighted_mean_ci,
    wilson_interval,
)
from kit.survey.importing import read_responses
from kit.survey.weighting import (
    RakeResult,
    TrimmedRakeResult,
    WeightingError,
    effective_n,
    kish_design_effect,
    rake,
    rake_with_trimming,
    trim_weights,
    weight_survey,
)

__all__ = [
    "AGE_GROUPS", "CleanResult", "Codebook", "ConsistencyRule", "Item", "RakeResult", "TIDY_COLUMNS",
    "TrimmedRakeResult", "WeightingError", "apply_disclosure", "clean_responses", "collapse",
    "cronbach_alpha", "district_keywords", "effective_n", "estimate_mean", "estimate_question",
    "estimate_survey", "free_text_summary", "kish_design_effect", "load_codebook", "rake",
    "rake_with_trimming", "rao_scott_test", "read_responses", "scale_index", "trim_weights",
    "weight_survey", "weighted_mean_ci", "wilson_interval",
]
