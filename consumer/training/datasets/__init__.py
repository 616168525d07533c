"""Loaders for the labelled training data in ``../shared/data/`` (see its README.md).

Every source file is read as it was published, byte for byte; each row becomes an
:class:`Example` with a binary ``label`` (``benign`` or ``malicious``), a short stable
``source`` name and a ``category`` saying what kind of content it is.

* ``examples``: the labels, categories, `Example` and `DataNotFoundError`;
* ``entries``: the catalogue as data (``sources.toml``): which files each source reads;
* ``catalogue``: the sources bound to their loaders, `load_all`, `file_digests`;
* ``malicious`` and ``benign``: one loader per source;
* ``files`` and ``text``: reading the published formats, detokenising and chunking prose.

Nothing here runs at import time. ``pyarrow`` is imported only by `load_deepset_injection`.
"""

from __future__ import annotations

from consumer.training.datasets.benign import (
    load_banking77,
    load_clinc150,
    load_cyberseceval_mitre_frr,
    load_goemotions,
    load_nltk_movie_reviews,
    load_nltk_product_reviews,
    load_nltk_pros_cons,
    load_nltk_sentence_polarity,
    load_nltk_state_union,
    load_nltk_subjectivity,
    load_query_wellformedness,
    load_sgd_dialogues,
    load_sms_spam,
    load_wiki_sents,
)
from consumer.training.datasets.catalogue import (
    SourceSpec,
    default_data_root,
    file_digests,
    load_all,
    sources,
)
from consumer.training.datasets.examples import (
    BENIGN,
    CATEGORIES,
    DATA_ENV_VAR,
    LABELS,
    MALICIOUS,
    DataNotFoundError,
    Example,
)
from consumer.training.datasets.malicious import (
    load_advbench,
    load_catqa,
    load_cyberseceval_injection,
    load_cyberseceval_interpreter,
    load_dangerousqa,
    load_davidson,
    load_deepset_injection,
    load_donotanswer,
    load_harmfulqa,
    load_jailbreak,
    load_simple_safety_tests,
    load_stormfront,
    load_toxigen,
)
from consumer.training.datasets.text import MAX_CHUNK_CHARS

__all__ = [
    "BENIGN",
    "CATEGORIES",
    "DATA_ENV_VAR",
    "LABELS",
    "MALICIOUS",
    "MAX_CHUNK_CHARS",
    "DataNotFoundError",
    "Example",
    "SourceSpec",
    "default_data_root",
    "file_digests",
    "load_advbench",
    "load_all",
    "load_banking77",
    "load_catqa",
    "load_clinc150",
    "load_cyberseceval_injection",
    "load_cyberseceval_interpreter",
    "load_cyberseceval_mitre_frr",
    "load_dangerousqa",
    "load_davidson",
    "load_deepset_injection",
    "load_donotanswer",
    "load_goemotions",
    "load_harmfulqa",
    "load_jailbreak",
    "load_nltk_movie_reviews",
    "load_nltk_product_reviews",
    "load_nltk_pros_cons",
    "load_nltk_sentence_polarity",
    "load_nltk_state_union",
    "load_nltk_subjectivity",
    "load_query_wellformedness",
    "load_sgd_dialogues",
    "load_simple_safety_tests",
    "load_sms_spam",
    "load_stormfront",
    "load_toxigen",
    "load_wiki_sents",
    "sources",
]
