"""Whether a short text reads as English: enough to tell a translation from its original.

The default model (all-MiniLM-L6-v2) was trained on English. It still places a
translation near its original, but lower than it places two English paraphrases of one
instruction: measured on the adversarial simulator's translated templates, an English
instruction and its French, German or Italian translation embed at 0.43-0.62, two English
paraphrases at 0.56-0.90. A comparison that crosses languages therefore needs its own
threshold (see :data:`promptprint.templates.tracker.SEMANTIC_CROSS_LINGUAL_COSINE`), and
this module says which side of it a pair is on. A list of English function words does
the job for instructions of a dozen words and more; no language model is needed.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_ENGLISH = frozenset(
    """a an the and or but if then of to in on at by for with from into about as is are be been was were it its this
    that these those you your yourself we our us i me my he she they them their what which who how why when where
    not no do does did can could should would will shall may must each every all any some one two first after before
    below above following following give write make use step steps answer answers question questions""".split()
)
MIN_ENGLISH_SHARE = 0.2  # of a text's words; English prose runs 0.4-0.6, other languages under 0.1
MIN_WORDS = 5  # fewer say too little ("Summarize:" is no language)


def language(text: str) -> str:
    """"en" when ``text`` reads as English (a fifth of its words or more are English
    function words), "other" when it does not (or is in another script), "" when it is
    too short to tell (under MIN_WORDS words of letters)."""
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < MIN_WORDS and not any(ord(c) > 0x2E7F for w in words for c in w):  # CJK and the like: one "word" a clause
        return ""
    return "en" if sum(w in _ENGLISH for w in words) >= MIN_ENGLISH_SHARE * len(words) else "other"
