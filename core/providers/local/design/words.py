"""The words on the design: the prompt split into a title, a tagline and details.

Members write requests ("make a poster for Summer Jazz Night at the park"), not
copy; the design should show "Summer Jazz Night" large and the rest small. The
prompt is cut where a copywriter would cut it: at sentence punctuation (in any
script), before a date or time ("this Saturday", "Friday at 8pm") and before an
offer ("free croissants ..."). The first phrase is the title, the next the
tagline, and whatever is left becomes the details, set as running text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_LEAD_FILLER = set(
    """a an the please pls make create design generate draw render give show me i we want need
    would like could can you some my our your for of about with to new nice cool beautiful
    awesome simple poster posters flyer flyers banner banners logo logos image images picture
    pictures graphic graphics illustration art artwork cover card cards thumbnail header
    wallpaper background template advert ad announcement invitation sign social media post
    instagram style styled modern vintage retro minimal minimalist minimalistic bold playful fun
    colorful colourful elegant clean sleek""".split()
)
_BREAKS = set("with featuring feat using where which that showing in on at by from under".split())
_SMALL = set(
    "a an and as at but by for in of on or the to vs via в во на и с к по о у за от до из".split()
)
_DAYS = (
    "monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed|thu|thur|thurs"
    "|fri|sat|sun|today|tonight|tomorrow|weekend|january|february|march|april|june|july"
    "|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct"
    "|nov|dec"
)
_WHEN = re.compile(rf"^({_DAYS})[,.;:!?]?$|^\d{{1,2}}([:.h]\d{{2}})?(am|pm|h)?[,.;:!?]?$", re.I)
_WHEN_LEAD = {"this", "next", "every", "on", "at", "from", "until", "each"}
_OFFER = {"free", "win", "save", "get", "join", "rsvp", "tickets", "book"}
_SENTENCE_END = re.compile(r"[.!?。！？؟।…]+[\"'”’)]*$")
_PHRASE_END = re.compile(r"[,;:،؛，、；：]$")
_SEPARATORS = ("-", "—", "–", "|", "·", "•")
_MAX_TITLE_WORDS = 6
_MAX_TITLE_CJK = 14
_MAX_SUBTITLE_WORDS = 14


@dataclass(frozen=True)
class Copy:
    """What the design says: the title (large), the tagline and the details (small)."""

    title: str
    subtitle: str
    details: str = ""


def split_prompt(prompt: str) -> Copy:
    """Title = the key phrase (quoted text, else the first phrase after filler words);
    tagline = the next phrase; details = the rest, tidied."""
    prompt = unicodedata.normalize("NFC", " ".join(prompt.split()))
    quoted = re.search(r"[\"“«']([^\"”»']{2,80})[\"”»']", prompt)
    if quoted:
        rest = (prompt[: quoted.start()] + " " + prompt[quoted.end() :]).split()
        sub, details = _tagline(_phrases(_drop_lead(rest)))
        return Copy(_tidy_title(quoted.group(1)), sub, details)
    words = prompt.split()
    lead = _drop_lead(words) or words  # nothing but filler: use the prompt as it is
    phrases = _phrases(lead)
    first = phrases[0] if phrases else []
    title, rest = _title_words(first)
    phrases = [rest, *phrases[1:]] if rest else phrases[1:]
    sub, details = _tagline(phrases)
    return Copy(_tidy_title(" ".join(title)), sub, details)


def _phrases(words: list[str]) -> list[list[str]]:
    """Words grouped into phrases: cut after sentence or clause punctuation and before
    a date, a time or an offer."""
    out: list[list[str]] = [[]]
    for i, word in enumerate(words):
        bare = word.strip("\"'“”‘’(),.;:!?").lower()
        nxt = words[i + 1].strip("\"'“”‘’(),.;:!?") if i + 1 < len(words) else ""
        starts_when = bool(_WHEN.match(bare.strip())) or (
            bare in _WHEN_LEAD and bool(_WHEN.match(nxt))
        )
        prev = out[-1][-1].strip("\"'“”‘’(),.;:!?").lower() if out[-1] else ""
        if out[-1] and (
            (starts_when and prev not in _WHEN_LEAD and not _WHEN.match(prev))
            or (bare in _OFFER and len(out[-1]) >= 2)
        ):
            out.append([])
        if word in _SEPARATORS:
            if out[-1]:
                out.append([])
            continue
        out[-1].append(word)
        if _SENTENCE_END.search(word) or _PHRASE_END.search(word):
            out.append([])
    return [p for p in out if p]


def _title_words(phrase: list[str]) -> tuple[list[str], list[str]]:
    """The title from the first phrase: up to a joining word or a handful of words,
    never ending on a word that leads into the next ("the", "this", "of")."""
    title: list[str] = []
    cjk = sum(1 for w in phrase for c in w if _is_cjk(c))
    for i, word in enumerate(phrase):
        bare = word.strip(",.;:!?—-").lower()
        content = sum(1 for t in title if t.lower() not in _SMALL and _has_letters(t))
        if i and ((bare in _BREAKS and content >= 2) or content >= _MAX_TITLE_WORDS):
            break
        if cjk > _MAX_TITLE_CJK and sum(1 for w in title for c in w if _is_cjk(c)) >= 8:
            break
        title.append(word)
    while len(title) > 1 and title[-1].strip(",.").lower() in _SMALL | {"this", "next", "our"}:
        title.pop()
    return title, phrase[len(title) :]


def _tagline(phrases: list[list[str]]) -> tuple[str, str]:
    """The next phrase is the tagline (at most a line or two); the rest are the details."""
    if not phrases:
        return "", ""
    first, rest = phrases[0], [w for p in phrases[1:] for w in p]
    if len(first) > _MAX_SUBTITLE_WORDS:
        first, rest = first[:_MAX_SUBTITLE_WORDS], first[_MAX_SUBTITLE_WORDS:] + rest
    return _tidy(first), _tidy(rest)


def _is_cjk(ch: str) -> bool:
    return 0x3040 <= ord(ch) <= 0x30FF or 0x3400 <= ord(ch) <= 0x9FFF


def _has_letters(word: str) -> bool:
    return any(c.isalpha() for c in word)


def _drop_lead(words: list[str]) -> list[str]:
    """Skip the request's opening filler ("please make a modern poster for ...")."""
    i = 0
    while i < len(words) and words[i].strip(",.;:!?").lower() in _LEAD_FILLER:
        i += 1
    return words[i:]


def _tidy_title(text: str) -> str:
    """Title Case without separators, unless the member already chose the capitals."""
    words = [w for w in text.split() if w not in _SEPARATORS]
    text = " ".join(words).strip(" ,.;:،，、")
    words = text.split()
    lettered = [w for w in words if _has_letters(w)]
    if any(c.isupper() for w in lettered[1:] for c in w):  # the member chose the casing
        return text
    return " ".join(
        w if (i and w.lower() in _SMALL) or _is_address(w) else w[:1].upper() + w[1:]
        for i, w in enumerate(words)
    )


def _is_address(word: str) -> bool:
    """URLs, e-mail addresses, handles and file names keep their exact spelling."""
    return bool(re.search(r"://|@|\w[./]\w", word))


def _tidy(words: list[str]) -> str:
    """A phrase as a line of copy: no leading joiner or separator, capitalised."""
    words = [w for w in words if w not in _SEPARATORS]
    while words and words[0].strip(",.;:").lower() in ("and", ",", "with", ""):
        words = words[1:]
    text = " ".join(words).strip(" ,;:،，、")
    text = text[:-1] if text.endswith(".") and not text.endswith("..") else text
    return text if words and _is_address(words[0]) else text[:1].upper() + text[1:]
