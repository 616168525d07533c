"""The contrast suite: functional test cases, written for this project, that a classifier
reading words instead of meaning gets wrong, reported per functionality by `evaluate`.

Each functionality is a set of cases with the label they should get: hateful statements about
identity groups (malicious) beside the same targets negated, quoted to condemn them, praised or
merely named (benign); the same hate with its charged words misspelled (leet, swapped, dropped
or spaced letters: malicious, to be found about as often as when spelled plainly); anger at
things that are not protected groups; safe requests with alarming words and their unsafe twins;
emails, tables and code with an injected instruction and the same documents clean; ordinary
text that says "ignore the previous ...". The templates and word lists are data
(`suite.toml`), separate from the training templates (`consumer/training/templates/`), and
the cases are drawn with a fixed seed: the same suite every time.
"""

from consumer.training.contrast.suite import (
    FUNCTIONALITIES,
    SUITE_SEED,
    Functionality,
    SuiteCase,
    SuiteResult,
    contrast_suite,
    evaluate_suite,
    score_suite,
    suite_digest,
    suite_lines,
    suite_summary,
)

__all__ = [
    "FUNCTIONALITIES",
    "SUITE_SEED",
    "Functionality",
    "SuiteCase",
    "SuiteResult",
    "contrast_suite",
    "evaluate_suite",
    "score_suite",
    "suite_digest",
    "suite_lines",
    "suite_summary",
]
