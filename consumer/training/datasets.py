"""Loaders for the labelled training data in ``../shared/data/`` (see its README.md).

Every source file is read as it was published, byte for byte; this module maps each row to an
:class:`Example` with a binary ``label`` (``benign`` or ``malicious``), a short stable
``source`` name and a ``category`` saying what kind of content it is. Text is kept raw apart
from stripping whitespace, undoing the word tokenisation of the NLTK corpora (``word , word .``)
and cutting long benign prose into chunks of at most about 1000 characters on sentence
boundaries; the shared normalisation lives in :mod:`consumer.model.textprep`.

Nothing here runs at import time. ``pyarrow`` is imported only by :func:`load_deepset_injection`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "BENIGN",
    "CATEGORIES",
    "DATA_ENV_VAR",
    "DEFAULT_SOURCES",
    "LABELS",
    "MALICIOUS",
    "MAX_CHUNK_CHARS",
    "SOURCES",
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
    "load_wiki_sents",
]

BENIGN: Final = "benign"
MALICIOUS: Final = "malicious"
LABELS: Final[tuple[str, str]] = (BENIGN, MALICIOUS)

# Category -> the label it implies. ``spam`` rows are only produced on request (see
# `load_sms_spam`): spam is not in scope of the default model.
_CATEGORY_LABEL: Final[dict[str, str]] = {
    "harmful_request": MALICIOUS,
    "prompt_injection": MALICIOUS,
    "abusive": MALICIOUS,
    "spam": MALICIOUS,
    "benign_prompt": BENIGN,
    "benign_prose": BENIGN,
}
CATEGORIES: Final[tuple[str, ...]] = tuple(_CATEGORY_LABEL)

DATA_ENV_VAR: Final = "CONTENT_CLASSIFIER_DATA"
MAX_CHUNK_CHARS: Final = 1000
# Full movie reviews (about 700 words) are cut into paragraph-sized pieces.
_REVIEW_CHUNK_CHARS: Final = 500


class DataNotFoundError(FileNotFoundError):
    """The data root, or a file a loader needs, is missing."""

    def __init__(self, path: Path, what: str = "data file") -> None:
        self.path = path
        super().__init__(
            f"{what} not found: {path}. Put the labelled training data in ../shared/data/ "
            f"relative to the project root (its README.md lists every file it must hold), "
            f"or point ${DATA_ENV_VAR} at it."
        )


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text."""

    text: str
    label: str
    source: str
    category: str

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, not {self.label!r}")
        if self.category not in _CATEGORY_LABEL:
            raise ValueError(f"category must be one of {CATEGORIES}, not {self.category!r}")


Loader = Callable[[Path], list[Example]]


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A training source: its files (relative to the data root), main category and licence.

    ``category`` is the category of the source's malicious rows, or of all its rows when it
    has only benign ones; a few sources mix in rows of a benign category (Davidson's
    "neither" tweets, the benign half of the jailbreak set, ...).
    """

    name: str
    files: tuple[str, ...]
    category: str
    licence: str
    loader: Loader


# --------------------------------------------------------------------------------------------
# helpers


def _example(text: str, category: str, source: str) -> Example:
    return Example(text=text, label=_CATEGORY_LABEL[category], source=source, category=category)


def _examples(texts: Iterable[str], category: str, source: str) -> list[Example]:
    """Strip texts, drop empty ones and wrap the rest."""
    out: list[Example] = []
    for raw in texts:
        text = raw.strip()
        if text:
            out.append(_example(text, category, source))
    return out


def _prose(texts: Iterable[str], source: str, max_chars: int = MAX_CHUNK_CHARS) -> list[Example]:
    """Benign prose, long documents cut into chunks of at most ``max_chars``."""
    out: list[Example] = []
    for raw in texts:
        for chunk in _chunk(raw, max_chars):
            out.append(_example(chunk, "benign_prose", source))
    return out


def _require(root: Path, rel: str) -> Path:
    if not root.is_dir():
        raise DataNotFoundError(root, "data root")
    path = root / rel
    if not path.is_file():
        raise DataNotFoundError(path)
    return path


def _read_text(root: Path, rel: str) -> str:
    return _require(root, rel).read_text(encoding="utf-8")


def _read_json(root: Path, rel: str) -> Any:
    return json.loads(_read_text(root, rel))


def _csv_dicts(root: Path, rel: str) -> list[dict[str, str]]:
    with _require(root, rel).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _tsv_rows(root: Path, rel: str) -> list[list[str]]:
    with _require(root, rel).open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def _column(rows: list[dict[str, str]], column: str, rel: str) -> list[str]:
    if rows and column not in rows[0]:
        raise ValueError(f"{rel}: expected a column {column!r}, found {sorted(rows[0])}")
    return [row[column] or "" for row in rows]


def _strings(node: Any) -> Iterator[str]:
    """Every string in a JSON tree (category -> subcategory -> list, or a list), in order."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, dict):
        for item in node.values():
            yield from _strings(item)


_ASCII_OR_BIG5_PUNCT = re.compile(rb"(?:[\x00-\x7f]|\xa1[\x40-\x7e\xa1-\xfe])*")


def _decode(data: bytes) -> str:
    """UTF-8, else Big5 punctuation in ASCII text (some Nixon addresses), else Windows-1252."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if _ASCII_OR_BIG5_PUNCT.fullmatch(data):
        return data.decode("big5").replace("\u3000", " ")
    return data.decode("cp1252", errors="replace")


def _zip_texts(root: Path, rel: str, accept: Callable[[str], bool]) -> Iterator[tuple[str, str]]:
    """(member name, decoded text) for the accepted files of an NLTK zip, sorted by name."""
    path = _require(root, rel)
    with zipfile.ZipFile(path) as archive:
        names = sorted(
            name
            for name in archive.namelist()
            if not name.endswith("/") and not name.rsplit("/", 1)[-1].startswith("README")
        )
        for name in names:
            if accept(name):
                yield name, _decode(archive.read(name))


_TOKEN_SPACE_BEFORE = re.compile(r"\s+(?=[.,!?;:%)\]}]|n't\b|'(?:s|re|ve|ll|d|m)\b)", re.I)
_TOKEN_SPACE_AFTER = re.compile(r"(?<=[(\[{])\s+")
_SPACES = re.compile(r"\s+")


def _detokenize(text: str) -> str:
    """Undo Penn-Treebank-style spacing: ``it 's good , i think .`` -> ``it's good, i think.``"""
    text = _SPACES.sub(" ", text).strip()
    text = _TOKEN_SPACE_BEFORE.sub("", text)
    return _TOKEN_SPACE_AFTER.sub("", text)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"')\]])\s+")


def _sentences(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text)) if s]


def _pack(pieces: Iterable[str], max_chars: int) -> list[str]:
    """Join consecutive pieces with spaces into chunks of at most ``max_chars``.

    A piece longer than ``max_chars`` on its own is cut on whitespace (or hard, if a single
    word is that long).
    """
    chunks: list[str] = []
    current = ""
    for raw in pieces:
        piece = raw.strip()
        if not piece:
            continue
        for part in _hard_split(piece, max_chars):
            if not current:
                current = part
            elif len(current) + 1 + len(part) <= max_chars:
                current = f"{current} {part}"
            else:
                chunks.append(current)
                current = part
    if current:
        chunks.append(current)
    return chunks


def _hard_split(text: str, max_chars: int) -> list[str]:
    if len(text) <= max_chars:
        return [text]
    parts: list[str] = []
    while len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars + 1)
        if cut <= 0:
            cut = max_chars
        parts.append(text[:cut].strip())
        text = text[cut:].strip()
    if text:
        parts.append(text)
    return parts


def _chunk(text: str, max_chars: int = MAX_CHUNK_CHARS) -> list[str]:
    """A stripped text, or its sentences packed into chunks of at most ``max_chars``."""
    text = text.strip()
    if len(text) <= max_chars:
        return [text] if text else []
    return _pack(_sentences(text), max_chars)


# --------------------------------------------------------------------------------------------
# malicious / mixed sources


_DAVIDSON = "malicious/davidson_labeled_data.csv"
_JAILBREAK = "malicious/jackhhao_jailbreak_dataset_full.csv"
_DONOTANSWER = tuple(
    f"malicious/donotanswer/{name}.jsonl"
    for name in (
        "discrimination_exclusion_toxicity_hateful_offensive",
        "human_chatbox",
        "information_hazard",
        "malicious_uses",
        "misinformation_harms",
    )
)


def load_davidson(root: Path) -> list[Example]:
    """Davidson et al. tweets: class 0 (hate) and 1 (offensive) abusive, 2 (neither) benign."""
    out: list[Example] = []
    for row in _csv_dicts(root, _DAVIDSON):
        text = (row["tweet"] or "").strip()
        if not text:
            continue
        cls = row["class"].strip()
        if cls in ("0", "1"):
            out.append(_example(text, "abusive", "davidson"))
        elif cls == "2":
            out.extend(_prose([text], "davidson"))
        else:
            raise ValueError(f"{_DAVIDSON}: unexpected class {cls!r}")
    return out


def load_jailbreak(root: Path) -> list[Example]:
    """jackhhao jailbreak prompts (``type`` jailbreak) and benign prompts (``type`` benign)."""
    out: list[Example] = []
    for row in _csv_dicts(root, _JAILBREAK):
        text = (row["prompt"] or "").strip()
        if not text:
            continue
        kind = row["type"].strip()
        if kind == "jailbreak":
            out.append(_example(text, "prompt_injection", "jailbreak"))
        elif kind == "benign":
            out.append(_example(text, "benign_prompt", "jailbreak"))
        else:
            raise ValueError(f"{_JAILBREAK}: unexpected type {kind!r}")
    return out


def _is_advice_only(intents: Iterable[str]) -> bool:
    """Do-Not-Answer intents that are all specialised advice (S002*) or chatbot-as-human (C*)."""
    codes = list(intents)
    return bool(codes) and all(code.startswith(("S002", "C")) for code in codes)


def load_donotanswer(root: Path, *, include_advice: bool = False) -> list[Example]:
    """Do-Not-Answer prompts, all harmful requests.

    About a hundred of them are ordinary requests for medical, legal or financial advice, or
    ask the assistant about its feelings ("I have a high temperature and a cough, do I have
    COVID-19?"): unanswerable for an assistant, but not malicious content, and they contradict
    the benign banking and CLINC queries. They are left out unless ``include_advice``.
    """
    out: list[Example] = []
    for rel in _DONOTANSWER:
        for line in _read_text(root, rel).splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            if not include_advice and _is_advice_only(record.get("intents", ())):
                continue
            out.extend(_examples([record["prompt"]], "harmful_request", "donotanswer"))
    return out


# --------------------------------------------------------------------------------------------
# routing and spam


_BANKING77 = ("routing/banking77_train.csv", "routing/banking77_test.csv")
_CLINC150 = "routing/clinc150_data_full.json"
_CLINC150_SPLITS = ("train", "val", "test", "oos_train", "oos_val", "oos_test")
_SMS = "spam/SMSSpamCollection.tsv"


def load_banking77(root: Path) -> list[Example]:
    """Banking77 customer queries (train and test), all benign prompts."""
    out: list[Example] = []
    for rel in _BANKING77:
        out.extend(
            _examples(_column(_csv_dicts(root, rel), "text", rel), "benign_prompt", "banking77")
        )
    return out


def load_clinc150(root: Path) -> list[Example]:
    """CLINC150 in-scope and out-of-scope queries of every split, all benign prompts."""
    data = _read_json(root, _CLINC150)
    out: list[Example] = []
    for split in _CLINC150_SPLITS:
        if split not in data:
            raise ValueError(f"{_CLINC150}: missing split {split!r}")
        out.extend(_examples((pair[0] for pair in data[split]), "benign_prompt", "clinc150"))
    return out


def load_sms_spam(root: Path, *, include_spam: bool = False) -> list[Example]:
    """SMS Spam Collection: ham is benign prose; spam rows (category ``spam``) only on request.

    Spam is out of scope of the default model, so it is neither labelled benign nor
    malicious there: it is left out. With ``include_spam`` the spam rows come back with
    category ``spam`` and label ``malicious``, for a model that does cover spam.
    """
    rows = _tsv_rows(root, _SMS)
    if rows and [cell.strip() for cell in rows[0]] == ["Label", "SMS"]:
        rows = rows[1:]
    out: list[Example] = []
    for row in rows:
        if len(row) < 2:
            continue
        kind, text = row[0].strip(), "\t".join(row[1:])
        if kind == "ham":
            out.extend(_prose([text], "sms_spam"))
        elif kind == "spam":
            if include_spam:
                out.extend(_examples([text], "spam", "sms_spam"))
        else:
            raise ValueError(f"{_SMS}: unexpected label {kind!r}")
    return out


# --------------------------------------------------------------------------------------------
# benign everyday English


_GOEMOTIONS = ("benign/goemotions_train.tsv", "benign/goemotions_test.tsv")
_WIKI = "benign/clinc_all_wiki_sents.txt"
_QUERIES = "benign/query_wellformedness_train.tsv"
_SGD = tuple(f"benign/sgd_dev_dialogues_00{i}.json" for i in range(1, 5))
_MITRE_FRR = "benign/cyberseceval_mitre_frr_benign.json"
_NLTK_SENTENCE_POLARITY = "benign/nltk_sentence_polarity.zip"
_NLTK_SUBJECTIVITY = "benign/nltk_subjectivity.zip"
_NLTK_MOVIE_REVIEWS = "benign/nltk_movie_reviews.zip"
_NLTK_PRODUCT_REVIEWS = ("benign/nltk_product_reviews_1.zip", "benign/nltk_product_reviews_2.zip")
_NLTK_PROS_CONS = "benign/nltk_pros_cons.zip"
_NLTK_STATE_UNION = "benign/nltk_state_union.zip"


def load_goemotions(root: Path) -> list[Example]:
    """GoEmotions Reddit comments (TSV without header: text, emotion ids, id), benign prose."""
    texts: list[str] = []
    for rel in _GOEMOTIONS:
        texts.extend(row[0] for row in _tsv_rows(root, rel) if row)
    return _prose(texts, "goemotions")


def load_wiki_sents(root: Path) -> list[Example]:
    """CLINC's encyclopedia sentences, one a line, benign prose."""
    return _prose(_read_text(root, _WIKI).splitlines(), "wiki_sents")


def load_query_wellformedness(root: Path) -> list[Example]:
    """Web search questions (TSV: query, score), benign prompts."""
    rows = _tsv_rows(root, _QUERIES)
    return _examples((row[0] for row in rows if row), "benign_prompt", "query_wellformedness")


def load_sgd_dialogues(root: Path) -> list[Example]:
    """The user turns of the Schema-Guided Dialogue dev dialogues, benign prompts."""
    texts: list[str] = []
    for rel in _SGD:
        for dialogue in _read_json(root, rel):
            texts.extend(
                turn["utterance"] for turn in dialogue["turns"] if turn.get("speaker") == "USER"
            )
    return _examples(texts, "benign_prompt", "sgd_dialogues")


def load_cyberseceval_mitre_frr(root: Path) -> list[Example]:
    """Benign but security-sounding coding requests (``mutated_prompt``), benign prompts."""
    out: list[Example] = []
    for record in _read_json(root, _MITRE_FRR):
        category = "harmful_request" if record.get("is_malicious") else "benign_prompt"
        out.extend(_examples([record["mutated_prompt"]], category, "cyberseceval_mitre_frr"))
    return out


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def load_nltk_sentence_polarity(root: Path) -> list[Example]:
    """Rotten Tomatoes snippets (``rt-polarity.neg``/``.pos``, one a line), benign prose."""
    texts: list[str] = []
    for _, text in _zip_texts(root, _NLTK_SENTENCE_POLARITY, lambda n: "/rt-polarity." in n):
        texts.extend(_detokenize(line) for line in _lines(text))
    return _prose(texts, "nltk_sentence_polarity")


def load_nltk_subjectivity(root: Path) -> list[Example]:
    """Plot and review sentences (``plot.tok.gt9.5000``, ``quote.tok.gt9.5000``), benign prose."""
    texts: list[str] = []
    for _, text in _zip_texts(root, _NLTK_SUBJECTIVITY, lambda n: ".tok." in n):
        texts.extend(_detokenize(line) for line in _lines(text))
    return _prose(texts, "nltk_subjectivity")


def _is_review_file(name: str) -> bool:
    return name.endswith(".txt") and ("/neg/" in name or "/pos/" in name)


def load_nltk_movie_reviews(root: Path) -> list[Example]:
    """Full movie reviews (one sentence a line), packed into paragraphs of <= 500 characters."""
    out: list[Example] = []
    for _, text in _zip_texts(root, _NLTK_MOVIE_REVIEWS, _is_review_file):
        sentences = [_detokenize(line) for line in _lines(text)]
        out.extend(_prose(_pack(sentences, _REVIEW_CHUNK_CHARS), "nltk_movie_reviews"))
    return out


def load_nltk_product_reviews(root: Path) -> list[Example]:
    """Customer-review sentences: the text after ``##`` on each annotated line, benign prose."""
    texts: list[str] = []
    for rel in _NLTK_PRODUCT_REVIEWS:
        for _, text in _zip_texts(root, rel, lambda n: n.endswith(".txt")):
            for line in text.splitlines():
                if "##" in line:
                    texts.append(_detokenize(line.split("##", 1)[1]))
    return _prose(texts, "nltk_product_reviews")


_PROS_CONS = re.compile(r"<(Pros|Cons)>(.*?)</\1>", re.DOTALL)


def load_nltk_pros_cons(root: Path) -> list[Example]:
    """Product pros and cons (``<Pros>...</Pros>``, ``<Cons>...</Cons>``), benign prose."""
    texts: list[str] = []
    for _, text in _zip_texts(root, _NLTK_PROS_CONS, lambda n: n.endswith(".txt")):
        texts.extend(match.group(2) for match in _PROS_CONS.finditer(text))
    return _prose(texts, "nltk_pros_cons")


def load_nltk_state_union(root: Path) -> list[Example]:
    """State of the Union addresses, one paragraph a line; long paragraphs cut by sentence."""
    texts: list[str] = []
    for _, text in _zip_texts(root, _NLTK_STATE_UNION, lambda n: n.endswith(".txt")):
        texts.extend(_lines(text))
    return _prose(texts, "nltk_state_union")


# --------------------------------------------------------------------------------------------
# prompt injections and harmful requests


_CSE_INJECTION = "injection/cyberseceval_prompt_injection.json"
_DEEPSET = "injection/psfuzz_prompt_injections_deepset_subset.parquet"
_ADVBENCH = "harmful/psfuzz_harmful_behavior_advbench.csv"
_SST = "harmful/SimpleSafetyTests_test_cases.csv"
_CATQA = "harmful/redinstruct_catqa_english.json"
_HARMFULQA = "harmful/redinstruct_harmfulqa.json"
_DANGEROUSQA = "harmful/redinstruct_dangerousqa.json"
_CSE_INTERPRETER = "harmful/cyberseceval_interpreter.json"


def load_cyberseceval_injection(root: Path) -> list[Example]:
    """CyberSecEval prompt injections (``user_input``) and the benign system prompts they attack.

    The system prompts (``test_case_prompt``) are benign prompts, many repeated; the repeats
    go at deduplication.
    """
    out: list[Example] = []
    for record in _read_json(root, _CSE_INJECTION):
        out.extend(_examples([record["user_input"]], "prompt_injection", "cyberseceval_injection"))
        out.extend(
            _examples([record["test_case_prompt"]], "benign_prompt", "cyberseceval_injection")
        )
    return out


def load_deepset_injection(root: Path) -> list[Example]:
    """The attack rows of deepset/prompt-injections (parquet ``text``, ``label`` 1)."""
    path = _require(root, _DEEPSET)
    import pyarrow.parquet as pq  # optional dependency (extra "train"); imported only here

    table = pq.read_table(path, columns=["text", "label"])
    texts = table.column("text").to_pylist()
    labels = table.column("label").to_pylist()
    return _examples(
        (text or "" for text, label in zip(texts, labels, strict=True) if label == 1),
        "prompt_injection",
        "deepset_injection",
    )


def load_advbench(root: Path) -> list[Example]:
    """AdvBench harmful behaviours (``goal``), without the first row, a benign arithmetic one."""
    goals = _column(_csv_dicts(root, _ADVBENCH), "goal", _ADVBENCH)
    return _examples(goals[1:], "harmful_request", "advbench")


def load_simple_safety_tests(root: Path) -> list[Example]:
    """SimpleSafetyTests prompts (``prompts_final``), harmful requests."""
    prompts = _column(_csv_dicts(root, _SST), "prompts_final", _SST)
    return _examples(prompts, "harmful_request", "simple_safety_tests")


def load_catqa(root: Path) -> list[Example]:
    """CatQA harmful questions (category -> subcategory -> list)."""
    return _examples(_strings(_read_json(root, _CATQA)), "harmful_request", "catqa")


def load_harmfulqa(root: Path) -> list[Example]:
    """HarmfulQA academic-framed harmful questions (topic -> subtopic -> list)."""
    return _examples(_strings(_read_json(root, _HARMFULQA)), "harmful_request", "harmfulqa")


def load_dangerousqa(root: Path) -> list[Example]:
    """DangerousQA harmful questions (a list)."""
    return _examples(_strings(_read_json(root, _DANGEROUSQA)), "harmful_request", "dangerousqa")


def load_cyberseceval_interpreter(root: Path) -> list[Example]:
    """Malicious code-interpreter requests (``mutated_prompt``)."""
    prompts = (record["mutated_prompt"] for record in _read_json(root, _CSE_INTERPRETER))
    return _examples(prompts, "harmful_request", "cyberseceval_interpreter")


# --------------------------------------------------------------------------------------------
# registry


def _spec(
    name: str, files: str | tuple[str, ...], category: str, licence: str, loader: Loader
) -> SourceSpec:
    return SourceSpec(
        name=name,
        files=(files,) if isinstance(files, str) else files,
        category=category,
        licence=licence,
        loader=loader,
    )


_CC_BY_4_NLTK = "CC-BY-4.0 (nltk_data)"

# ``redinstruct_adversarialqa.json`` is left out on purpose: it repeats AdvBench.
SOURCES: Final[dict[str, SourceSpec]] = {
    spec.name: spec
    for spec in (
        _spec("davidson", _DAVIDSON, "abusive", "MIT", load_davidson),
        _spec("jailbreak", _JAILBREAK, "prompt_injection", "MIT", load_jailbreak),
        _spec("donotanswer", _DONOTANSWER, "harmful_request", "Apache-2.0", load_donotanswer),
        _spec("banking77", _BANKING77, "benign_prompt", "CC-BY-4.0", load_banking77),
        _spec("clinc150", _CLINC150, "benign_prompt", "CC-BY-3.0", load_clinc150),
        _spec("sms_spam", _SMS, "benign_prose", "CC-BY-4.0", load_sms_spam),
        _spec("goemotions", _GOEMOTIONS, "benign_prose", "Apache-2.0", load_goemotions),
        _spec(
            "wiki_sents",
            _WIKI,
            "benign_prose",
            "CC-BY-3.0; text from Wikipedia, CC-BY-SA",
            load_wiki_sents,
        ),
        _spec(
            "query_wellformedness",
            _QUERIES,
            "benign_prompt",
            "CC-BY-SA-4.0",
            load_query_wellformedness,
        ),
        _spec("sgd_dialogues", _SGD, "benign_prompt", "CC-BY-SA-4.0", load_sgd_dialogues),
        _spec(
            "nltk_sentence_polarity",
            _NLTK_SENTENCE_POLARITY,
            "benign_prose",
            _CC_BY_4_NLTK,
            load_nltk_sentence_polarity,
        ),
        _spec(
            "nltk_subjectivity",
            _NLTK_SUBJECTIVITY,
            "benign_prose",
            _CC_BY_4_NLTK,
            load_nltk_subjectivity,
        ),
        _spec(
            "nltk_movie_reviews",
            _NLTK_MOVIE_REVIEWS,
            "benign_prose",
            _CC_BY_4_NLTK,
            load_nltk_movie_reviews,
        ),
        _spec(
            "nltk_product_reviews",
            _NLTK_PRODUCT_REVIEWS,
            "benign_prose",
            _CC_BY_4_NLTK,
            load_nltk_product_reviews,
        ),
        _spec(
            "nltk_pros_cons", _NLTK_PROS_CONS, "benign_prose", _CC_BY_4_NLTK, load_nltk_pros_cons
        ),
        _spec(
            "nltk_state_union",
            _NLTK_STATE_UNION,
            "benign_prose",
            "public domain",
            load_nltk_state_union,
        ),
        _spec(
            "cyberseceval_mitre_frr",
            _MITRE_FRR,
            "benign_prompt",
            "MIT",
            load_cyberseceval_mitre_frr,
        ),
        _spec(
            "cyberseceval_injection",
            _CSE_INJECTION,
            "prompt_injection",
            "MIT",
            load_cyberseceval_injection,
        ),
        _spec(
            "deepset_injection",
            _DEEPSET,
            "prompt_injection",
            "MIT (ps-fuzz); deepset data Apache-2.0",
            load_deepset_injection,
        ),
        _spec("advbench", _ADVBENCH, "harmful_request", "MIT (ps-fuzz)", load_advbench),
        _spec(
            "simple_safety_tests", _SST, "harmful_request", "CC-BY-4.0", load_simple_safety_tests
        ),
        _spec("catqa", _CATQA, "harmful_request", "Apache-2.0", load_catqa),
        _spec("harmfulqa", _HARMFULQA, "harmful_request", "Apache-2.0", load_harmfulqa),
        _spec("dangerousqa", _DANGEROUSQA, "harmful_request", "Apache-2.0", load_dangerousqa),
        _spec(
            "cyberseceval_interpreter",
            _CSE_INTERPRETER,
            "harmful_request",
            "MIT",
            load_cyberseceval_interpreter,
        ),
    )
}

DEFAULT_SOURCES: Final[tuple[str, ...]] = tuple(SOURCES)


def _select(sources: Iterable[str] | None) -> list[SourceSpec]:
    """The named sources in registry order (so the result does not depend on the caller's order)."""
    if sources is None:
        return [SOURCES[name] for name in DEFAULT_SOURCES]
    wanted = set(sources) if not isinstance(sources, str) else {sources}
    unknown = sorted(wanted - SOURCES.keys())
    if unknown:
        raise ValueError(f"unknown sources {unknown}; known: {sorted(SOURCES)}")
    return [spec for name, spec in SOURCES.items() if name in wanted]


def _dedupe(examples: Iterable[Example]) -> list[Example]:
    """First example of each exact text, except that a malicious one replaces a benign one."""
    out: list[Example] = []
    index: dict[str, int] = {}
    for example in examples:
        at = index.get(example.text)
        if at is None:
            index[example.text] = len(out)
            out.append(example)
        elif out[at].label == BENIGN and example.label == MALICIOUS:
            out[at] = example
    return out


def load_all(
    root: Path, sources: Iterable[str] | None = None, *, include_spam: bool = False
) -> list[Example]:
    """Examples of the chosen sources (default: all), deduplicated by exact text.

    Spam rows are left out unless ``include_spam`` (SMS ham is always in). When one text
    carries both labels the malicious example wins; otherwise the first one is kept. The
    order is the registry order of the sources, then file order: the same data gives the
    same list.
    """
    loaded: list[Example] = []
    for spec in _select(sources):
        if spec.name == "sms_spam":
            loaded.extend(load_sms_spam(root, include_spam=include_spam))
        else:
            loaded.extend(spec.loader(root))
    return _dedupe(loaded)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digests(root: Path, sources: Iterable[str]) -> dict[str, str]:
    """Relative path -> sha256 hex digest of every file the chosen sources read, sorted."""
    files = sorted({rel for spec in _select(sources) for rel in spec.files})
    return {rel: _sha256(_require(root, rel)) for rel in files}


def default_data_root() -> Path:
    """``$CONTENT_CLASSIFIER_DATA``, else the first existing ``../shared/data`` (cwd, package)."""
    configured = os.environ.get(DATA_ENV_VAR, "").strip()
    if configured:
        return Path(configured).expanduser()
    candidates = (
        Path.cwd() / ".." / "shared" / "data",
        Path(__file__).resolve().parents[3] / "shared" / "data",
    )
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    raise DataNotFoundError(candidates[0], "data root")
