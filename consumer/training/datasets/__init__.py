"""Loaders for the labelled training data in ``../shared/data/`` (see its README.md).

Every source file is read as it was published, byte for byte; each row becomes an
:class:`Example` with a binary ``label`` (``benign`` or ``malicious``), a short stable
``source`` name and a ``category`` saying what kind of content it is.

* ``examples``: the labels, categories, `Example` and `DataNotFoundError`;
* ``entries``: the catalogue as data (``sources.toml``): which files each source reads;
* ``catalogue``: the sources bound to their loaders, `load_all`, `file_digests`;
* ``malicious`` and ``benign``: one loader per source (the first sources);
* ``prompts``, ``requests`` and ``abuse``: jailbreaks in the wild and benign prompts shaped
  like attacks; harmful requests and their benign twins; abuse with contrast rows;
* ``composed``: sources whose injections a seeded recipe composes (BIPIA's documents with an
  attack inserted, GPTFuzz's templates filled);
* ``files`` and ``text``: reading the published formats, detokenising and chunking prose.

Nothing here runs at import time. ``pyarrow`` is imported only by `load_deepset_injection`.
"""

from __future__ import annotations

from consumer.training.datasets.abuse import (
    load_convabuse,
    load_edos,
    load_perspective_templates,
    load_perspective_toxicity,
    load_surge_toxicity,
)
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
from consumer.training.datasets.composed import (
    COMPOSITION_SEED,
    load_bipia,
    load_gptfuzz_jailbreaks,
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
from consumer.training.datasets.prompts import (
    load_awesome_chatgpt_prompts,
    load_deepset_splits,
    load_jailbreak_in_the_wild,
    load_notinject,
    load_wildguard_benign,
)
from consumer.training.datasets.requests import (
    load_aart,
    load_coconot,
    load_coconot_contrast,
    load_gptfuzz_questions,
    load_jailbreakbench,
    load_jailbreakbench_twins,
    load_strongreject,
)
from consumer.training.datasets.text import MAX_CHUNK_CHARS

__all__ = [
    "BENIGN",
    "CATEGORIES",
    "COMPOSITION_SEED",
    "DATA_ENV_VAR",
    "LABELS",
    "MALICIOUS",
    "MAX_CHUNK_CHARS",
    "DataNotFoundError",
    "Example",
    "SourceSpec",
    "default_data_root",
    "file_digests",
    "load_aart",
    "load_advbench",
    "load_all",
    "load_awesome_chatgpt_prompts",
    "load_banking77",
    "load_bipia",
    "load_catqa",
    "load_clinc150",
    "load_coconot",
    "load_coconot_contrast",
    "load_convabuse",
    "load_cyberseceval_injection",
    "load_cyberseceval_interpreter",
    "load_cyberseceval_mitre_frr",
    "load_dangerousqa",
    "load_davidson",
    "load_deepset_injection",
    "load_deepset_splits",
    "load_donotanswer",
    "load_edos",
    "load_goemotions",
    "load_gptfuzz_jailbreaks",
    "load_gptfuzz_questions",
    "load_harmfulqa",
    "load_jailbreak",
    "load_jailbreak_in_the_wild",
    "load_jailbreakbench",
    "load_jailbreakbench_twins",
    "load_nltk_movie_reviews",
    "load_nltk_product_reviews",
    "load_nltk_pros_cons",
    "load_nltk_sentence_polarity",
    "load_nltk_state_union",
    "load_nltk_subjectivity",
    "load_notinject",
    "load_perspective_templates",
    "load_perspective_toxicity",
    "load_query_wellformedness",
    "load_sgd_dialogues",
    "load_simple_safety_tests",
    "load_sms_spam",
    "load_stormfront",
    "load_strongreject",
    "load_surge_toxicity",
    "load_toxigen",
    "load_wiki_sents",
    "load_wildguard_benign",
    "sources",
]
