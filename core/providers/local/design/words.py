"""The words on the design: the prompt split into a title and a tagline.

Members write requests ("make a poster for Summer Jazz Night at the park"), not
copy; the design should show "Summer Jazz Night" large and the rest small.
"""

from __future__ import annotations

import re
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
_SMALL = set("a an and as at but by for in of on or the to vs via".split())
_MAX_TITLE_WORDS = 6


@dataclass(frozen=True)
class Copy:
    """What the design says: the title, set large, and the tagline, set small."""

    title: str
    subtitle: str


def split_prompt(prompt: str) -> Copy:
    """Title = the key phrase (quoted text, else the first phrase after filler words);
    subtitle = the rest of the prompt, tidied."""
    quoted = re.search(r"[\"“«']([^\"”»']{2,80})[\"”»']", prompt)
    if quoted:
        rest = (prompt[: quoted.start()] + " " + prompt[quoted.end() :]).strip()
        return Copy(_tidy_title(quoted.group(1)), _tidy_subtitle(_drop_lead(rest.split())))
    words = prompt.split()
    lead = _drop_lead(words)
    if not lead:  # nothing but filler: use the prompt as it is
        lead = words
    title: list[str] = []
    for i, word in enumerate(lead):
        bare = word.strip(",.;:!?—-").lower()
        content = sum(1 for t in title if t.lower() not in _SMALL)
        if i and (bare in _BREAKS or content >= _MAX_TITLE_WORDS):
            break
        title.append(word.strip(",.;:!?"))
        if re.search(r"[,.;:!?—]$", word) or word in ("-", "—", "|"):
            break
    return Copy(_tidy_title(" ".join(title)), _tidy_subtitle(lead[len(title) :]))


def _drop_lead(words: list[str]) -> list[str]:
    """Skip the request's opening filler ("please make a modern poster for ...")."""
    i = 0
    while i < len(words) and words[i].strip(",.;:!?").lower() in _LEAD_FILLER:
        i += 1
    return words[i:]


def _tidy_title(text: str) -> str:
    """Title Case without separators, unless the member already chose the capitals."""
    text = " ".join(w for w in text.split() if w not in ("-", "—", "|")).strip(" ,.;:")
    if any(c.isupper() for c in text):  # the member chose the casing
        return text
    words = text.split()
    return " ".join(
        w if (i and w in _SMALL) else w[:1].upper() + w[1:] for i, w in enumerate(words)
    )


def _tidy_subtitle(words: list[str], limit: int = 14) -> str:
    """The rest as a tagline: no leading joiner, at most `limit` words, capitalised."""
    words = [w for w in words if w not in ("-", "—", "|")]
    while words and words[0].strip(",.;:").lower() in ("and", "-", "—", ",", "with"):
        words = words[1:]
    if len(words) > limit:
        words = [*words[:limit], "…"]
    text = " ".join(words).strip(" ,;:")
    return text[:1].upper() + text[1:]
