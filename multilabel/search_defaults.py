"""The search's choices and defaults, apart from search.py so that the CLI's ``--help`` shows them without importing
optuna and torch (tests/test_cli_startup.py). ``multilabel.search`` re-exports every name."""

# The trial value: "bce" (held-out binary cross-entropy: smooth, so a few hundred held-out rows rank configurations
# far more reliably than their Hamming loss or F1) or "mix" ((hamming + 1 - micro_f1) / 2). Chosen on
# benchmarks/suite.py's search variants (benchmarks/README.md, "Search + ensemble, round 2").
OBJECTIVES = ("bce", "mix")
OBJECTIVE = "bce"
# The ensemble's cut-off "global": one threshold for every label, the mean of its trials' best single thresholds on
# their pooled held-out probabilities (search.global_threshold); "trial": each trial's own (0.5 or tuned per label);
# "oof": one for every label, chosen on the out-of-fold probabilities of the ensemble's configurations, each trained
# once per CV fold (search.oof_threshold). On outer folds "oof" raised micro-F1 by 0.019 and Hamming loss by 0.0013
# against "trial": a trade, not a win, so "trial" stays (benchmarks/README.md, issue 25, "cutting the ensemble").
THRESHOLDS = ("trial", "global", "oof")
ENSEMBLE_THRESHOLD = "trial"
ENSEMBLE_SEEDS = 3  # seeds per configuration in the CLI's and the page's ensemble (``build_ensemble(seeds=...)``)
DEFAULT_STUDY = "multilabel"
# The ensemble's configurations (``chosen_trials``): "best": the best trials, however small their lead; "guarded":
# the defaults' alone unless the best trial beats it by more than the fold noise; "with-defaults": the defaults' and
# the best others; "oof": cross-validated bagging of the best and the defaults', selected on out-of-fold predictions
# (build_oof). Measured on outer folds against "best" in benchmarks/README.md.
CHOICES = ("best", "with-defaults", "guarded", "oof")
ENSEMBLE_CHOICE = "best"
