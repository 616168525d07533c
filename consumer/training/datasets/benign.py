"""Loaders of the benign sources: routing queries, SMS, everyday English, NLTK corpora, and
security-sounding but benign requests.

Which files each source reads is in the catalogue (`sources.toml`); a loader knows only how
its files' rows map to examples.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from consumer.training.datasets.entries import source_file, source_files
from consumer.training.datasets.examples import Example, examples
from consumer.training.datasets.files import (
    column,
    csv_dicts,
    read_json,
    read_text,
    tsv_rows,
    zip_texts,
)
from consumer.training.datasets.text import detokenize, lines, pack, prose

__all__ = [
    "load_banking77",
    "load_clinc150",
    "load_cyberseceval_mitre_frr",
    "load_goemotions",
    "load_nltk_movie_reviews",
    "load_nltk_product_reviews",
    "load_nltk_pros_cons",
    "load_nltk_sentence_polarity",
    "load_nltk_state_union",
    "load_nltk_subjectivity",
    "load_query_wellformedness",
    "load_sgd_dialogues",
    "load_sms_spam",
    "load_wiki_sents",
]

_CLINC150_SPLITS: Final = ("train", "val", "test", "oos_train", "oos_val", "oos_test")
# Full movie reviews (about 700 words) are cut into paragraph-sized pieces.
_REVIEW_CHUNK_CHARS: Final = 500
_PROS_CONS = re.compile(r"<(Pros|Cons)>(.*?)</\1>", re.DOTALL)


def load_banking77(root: Path) -> list[Example]:
    """Banking77 customer queries (train and test), all benign prompts."""
    out: list[Example] = []
    for rel in source_files("banking77"):
        out.extend(
            examples(column(csv_dicts(root, rel), "text", rel), "benign_prompt", "banking77")
        )
    return out


def load_clinc150(root: Path) -> list[Example]:
    """CLINC150 in-scope and out-of-scope queries of every split, all benign prompts."""
    rel = source_file("clinc150")
    data = read_json(root, rel)
    out: list[Example] = []
    for split in _CLINC150_SPLITS:
        if split not in data:
            raise ValueError(f"{rel}: missing split {split!r}")
        out.extend(examples((pair[0] for pair in data[split]), "benign_prompt", "clinc150"))
    return out


def load_sms_spam(root: Path, *, include_spam: bool = False) -> list[Example]:
    """SMS Spam Collection: ham is benign prose; spam rows (category ``spam``) only on request.

    Spam is out of scope of the default model, so it is neither labelled benign nor
    malicious there: it is left out. With ``include_spam`` the spam rows come back with
    category ``spam`` and label ``malicious``, for a model that does cover spam.
    """
    rel = source_file("sms_spam")
    rows = tsv_rows(root, rel)
    if rows and [cell.strip() for cell in rows[0]] == ["Label", "SMS"]:
        rows = rows[1:]
    out: list[Example] = []
    for row in rows:
        if len(row) < 2:
            continue
        kind, text = row[0].strip(), "\t".join(row[1:])
        if kind == "ham":
            out.extend(prose([text], "sms_spam"))
        elif kind == "spam":
            if include_spam:
                out.extend(examples([text], "spam", "sms_spam"))
        else:
            raise ValueError(f"{rel}: unexpected label {kind!r}")
    return out


def load_goemotions(root: Path) -> list[Example]:
    """GoEmotions Reddit comments (TSV without header: text, emotion ids, id), benign prose."""
    texts: list[str] = []
    for rel in source_files("goemotions"):
        texts.extend(row[0] for row in tsv_rows(root, rel) if row)
    return prose(texts, "goemotions")


def load_wiki_sents(root: Path) -> list[Example]:
    """CLINC's encyclopedia sentences, one a line, benign prose."""
    return prose(read_text(root, source_file("wiki_sents")).splitlines(), "wiki_sents")


def load_query_wellformedness(root: Path) -> list[Example]:
    """Web search questions (TSV: query, score), benign prompts."""
    rows = tsv_rows(root, source_file("query_wellformedness"))
    return examples((row[0] for row in rows if row), "benign_prompt", "query_wellformedness")


def load_sgd_dialogues(root: Path) -> list[Example]:
    """The user turns of the Schema-Guided Dialogue dev dialogues, benign prompts."""
    texts: list[str] = []
    for rel in source_files("sgd_dialogues"):
        for dialogue in read_json(root, rel):
            texts.extend(
                turn["utterance"] for turn in dialogue["turns"] if turn.get("speaker") == "USER"
            )
    return examples(texts, "benign_prompt", "sgd_dialogues")


def load_cyberseceval_mitre_frr(root: Path) -> list[Example]:
    """Benign but security-sounding coding requests (``mutated_prompt``), benign prompts."""
    out: list[Example] = []
    for record in read_json(root, source_file("cyberseceval_mitre_frr")):
        category = "harmful_request" if record.get("is_malicious") else "benign_prompt"
        out.extend(examples([record["mutated_prompt"]], category, "cyberseceval_mitre_frr"))
    return out


def load_nltk_sentence_polarity(root: Path) -> list[Example]:
    """Rotten Tomatoes snippets (``rt-polarity.neg``/``.pos``, one a line), benign prose."""
    texts: list[str] = []
    rel = source_file("nltk_sentence_polarity")
    for _, text in zip_texts(root, rel, lambda n: "/rt-polarity." in n):
        texts.extend(detokenize(line) for line in lines(text))
    return prose(texts, "nltk_sentence_polarity")


def load_nltk_subjectivity(root: Path) -> list[Example]:
    """Plot and review sentences (``plot.tok.gt9.5000``, ``quote.tok.gt9.5000``), benign prose."""
    texts: list[str] = []
    for _, text in zip_texts(root, source_file("nltk_subjectivity"), lambda n: ".tok." in n):
        texts.extend(detokenize(line) for line in lines(text))
    return prose(texts, "nltk_subjectivity")


def _is_review_file(name: str) -> bool:
    return name.endswith(".txt") and ("/neg/" in name or "/pos/" in name)


def load_nltk_movie_reviews(root: Path) -> list[Example]:
    """Full movie reviews (one sentence a line), packed into paragraphs of <= 500 characters."""
    out: list[Example] = []
    for _, text in zip_texts(root, source_file("nltk_movie_reviews"), _is_review_file):
        sentences = [detokenize(line) for line in lines(text)]
        out.extend(prose(pack(sentences, _REVIEW_CHUNK_CHARS), "nltk_movie_reviews"))
    return out


def load_nltk_product_reviews(root: Path) -> list[Example]:
    """Customer-review sentences: the text after ``##`` on each annotated line, benign prose."""
    texts: list[str] = []
    for rel in source_files("nltk_product_reviews"):
        for _, text in zip_texts(root, rel, lambda n: n.endswith(".txt")):
            for line in text.splitlines():
                if "##" in line:
                    texts.append(detokenize(line.split("##", 1)[1]))
    return prose(texts, "nltk_product_reviews")


def load_nltk_pros_cons(root: Path) -> list[Example]:
    """Product pros and cons (``<Pros>...</Pros>``, ``<Cons>...</Cons>``), benign prose."""
    texts: list[str] = []
    for _, text in zip_texts(root, source_file("nltk_pros_cons"), lambda n: n.endswith(".txt")):
        texts.extend(match.group(2) for match in _PROS_CONS.finditer(text))
    return prose(texts, "nltk_pros_cons")


def load_nltk_state_union(root: Path) -> list[Example]:
    """State of the Union addresses, one paragraph a line; long paragraphs cut by sentence."""
    texts: list[str] = []
    for _, text in zip_texts(root, source_file("nltk_state_union"), lambda n: n.endswith(".txt")):
        texts.extend(lines(text))
    return prose(texts, "nltk_state_union")
