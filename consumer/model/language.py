"""The language of each text (ISO 639-1), so a verdict says when the model reads a language it
was not trained on.

eldc's model is compiled into its wheel (no download, no network) and costs 2-3 % of the
default model's time (docs/model.md, where the other candidates are measured). It answers
`und` for text without letters (empty, emoji, numbers). Short Latin-script text is often
mistaken for a neighbour of English ("LOL" reads as Dutch), so a language other than English
on text whose letters are all Latin stands only when eldc calls it reliable, and is `und`
otherwise; text with letters of another script keeps eldc's answer. `und` never sends a
verdict to review: it says the text is too short or mixed to tell.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

import eldc

__all__ = ["UNDETERMINED", "detect_languages"]

#: The language of a text that has no letters, or too few to tell.
UNDETERMINED = "und"
#: A letter outside the Latin blocks (Basic Latin to Latin Extended-B).
_OTHER_SCRIPT = re.compile(r"[^\W\d_\u0000-\u024f]")
_ready = threading.Lock()
_initialised = False


def _init() -> None:
    global _initialised
    with _ready:
        if not _initialised:
            eldc.init()
            _initialised = True


def detect_languages(texts: Sequence[str]) -> list[str]:
    """Each text's ISO 639-1 code, or `und`."""
    if not _initialised:
        _init()
    detect, details, other_script = eldc.detect, eldc.detect_details, _OTHER_SCRIPT.search
    out = []
    for text in texts:
        try:
            language = detect(text)
            if (
                language != "en"
                and language != UNDETERMINED
                and other_script(text) is None
                and not details(text).reliable
            ):
                language = UNDETERMINED
        except (UnicodeError, ValueError):  # a lone surrogate cannot be read as UTF-8
            language = UNDETERMINED
        out.append(language)
    return out
