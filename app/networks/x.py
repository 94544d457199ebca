"""X (Twitter) rules: weighted length as twitter-text v3 counts it, media, cashtags.

Weighted length (twitter-text ``parseTweet`` with the v3 configuration): the text is
NFC-normalised; every URL twitter-text extracts counts ``transformedURLLength`` (23);
every emoji sequence counts ``defaultWeight`` (2) however many code points it has;
every other code point counts 1 inside the weight ranges below and 2 outside
(CJK, most symbols). The limit is 280 (``max_weighted_length`` overrides it, e.g.
for a Premium account, whose limit is unconfirmed). Checked against every
weighted-count case of twitter-text's ``conformance/validate.yml`` (tests/data).

URL extraction is twitter-text's own (the ``twitter-text-parser`` port, which passes
the conformance suite). Emoji sequences are recognised from the Unicode properties of
the installed ``regex`` module rather than the port's Emoji 12.0 table, so newer
emoji (e.g. 15.1 ZWJ sequences) count 2 as X counts them.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Any

import regex

from app.networks.base import Network
from app.networks.counting import (
    MB,
    MediaKind,
    MediaPolicy,
    check_media,
    error,
    limit,
    measured,
    needs_content,
    text_length,
    url_spans,
)
from app.networks.rules import Check, MediaFacts

NETWORK = Network.x
MAX_WEIGHTED_LENGTH = 280
URL_LENGTH = 23
SCALE = 100
DEFAULT_WEIGHT = 200
# twitter-text v3 config "ranges": code points counted as one character.
WEIGHT_RANGES = ((0, 4351, 100), (8192, 8205, 100), (8208, 8223, 100), (8242, 8247, 100))
INVALID_CHARACTERS = frozenset("\ufffe\ufeff\uffff")

# One emoji code point on its own (emoji-test.txt's entries, components excluded).
_SINGLE_EMOJI = regex.compile(r"[\p{Emoji}--\p{Emoji_Component}]", regex.V1)
# What may follow the first code point inside one emoji sequence.
_SEQUENCE_TAIL = regex.compile(
    r"(?:\uFE0F|\u20E3|\u200D|\p{Emoji_Modifier}|[\U000E0020-\U000E007F]|\p{Emoji}"
    r"|\p{Extended_Pictographic})+",
    regex.V1,
)
_KEYCAP = regex.compile(r"[0-9#*]\uFE0F?\u20E3")
_FLAG = regex.compile(r"\p{Regional_Indicator}{2}")
_CASHTAG = regex.compile(r"(?:^|(?<=\s))\$[a-z]{1,6}(?:[._][a-z]{1,2})?(?=$|\s|\p{P})", regex.I)

V2 = {"ranges": WEIGHT_RANGES, "emoji_parsing": False}
V3 = {"ranges": WEIGHT_RANGES, "emoji_parsing": True}


def _is_emoji_sequence(cluster: str) -> bool:
    if len(cluster) == 1 or "\ufe0e" in cluster:
        return False
    if _KEYCAP.fullmatch(cluster) or _FLAG.fullmatch(cluster):
        return True
    first = cluster[0]
    if not (_SINGLE_EMOJI.match(first) or regex.match(r"\p{Extended_Pictographic}", first)):
        return False
    return _SEQUENCE_TAIL.fullmatch(cluster, 1) is not None


@functools.lru_cache(maxsize=8192)
def _is_emoji(cluster: str) -> bool:
    return _is_emoji_sequence(cluster) or (len(cluster) == 1 and bool(_SINGLE_EMOJI.match(cluster)))


def is_emoji(cluster: str) -> bool:
    """Whether one grapheme cluster is an emoji as twitter-text v3 counts it."""
    # No ASCII-only cluster is an emoji: the ASCII code points with the Emoji property
    # (0-9, #, *) are emoji components, and a keycap needs U+20E3. Clusters repeat
    # (letters, the same emoji), so the rest are remembered.
    return not cluster.isascii() and _is_emoji(cluster)


# A grapheme cluster that holds a non-ASCII code point starts with one, or is an ASCII
# code point followed by one (a combining mark, U+FE0F, U+20E3...). Two ASCII code points
# in a row are always two clusters (or CR LF), so searching for this pattern finds every
# such cluster at its true boundaries, skipping the ASCII between them.
_NON_ASCII_CLUSTER = regex.compile(r"(?=[^\x00-\x7f]|.[^\x00-\x7f])\X", regex.DOTALL)


def _emoji_entities(text: str) -> dict[int, int]:
    """Start index → length (code points) of each emoji, as twitter-text's v3 parser sees it."""
    if text.isascii():
        return {}
    return {
        match.start(): len(cluster)
        for match in _NON_ASCII_CLUSTER.finditer(text)
        if is_emoji(cluster := match.group())
    }


def _weight(char: str, ranges: tuple[tuple[int, int, int], ...]) -> int:
    code = ord(char)
    for start, end, weight in ranges:
        if start <= code <= end:
            return weight
    return DEFAULT_WEIGHT


@functools.cache
def _ascii_weight(ranges: tuple[tuple[int, int, int], ...]) -> int | None:
    """The weight of every ASCII code point when the ranges give them all the same one."""
    weights = {_weight(chr(code), ranges) for code in range(128)}
    return weights.pop() if len(weights) == 1 else None


def _span_weight(text: str, ranges: tuple[tuple[int, int, int], ...]) -> int:
    if text.isascii():
        same = _ascii_weight(ranges)
        if same is not None:
            return same * len(text)
    return sum([_weight(char, ranges) for char in text])


def weighted_length(
    text: str,
    *,
    ranges: tuple[tuple[int, int, int], ...] = WEIGHT_RANGES,
    emoji_parsing: bool = True,
    url_length: int = URL_LENGTH,
) -> int:
    """twitter-text's ``weightedLength`` (v3 configuration unless told otherwise)."""
    normalized = unicodedata.normalize("NFC", text)
    ranges = tuple((low, high, weight) for low, high, weight in ranges)
    url_at = {start: end for start, end, _ in url_spans(normalized, True)}
    emoji_at = _emoji_entities(normalized) if emoji_parsing else {}
    # Walk from entity to entity (a URL first where both start at one index), weighing
    # the code points between them.
    total = 0
    i = 0
    for start in sorted(url_at.keys() | emoji_at.keys()):
        if start < i:  # inside the previous entity
            continue
        total += _span_weight(normalized[i:start], ranges)
        if start in url_at:
            total += url_length * SCALE
            i = url_at[start]
        else:
            total += DEFAULT_WEIGHT
            i = start + emoji_at[start]
    total += _span_weight(normalized[i:], ranges)
    return total // SCALE


def has_invalid_characters(text: str) -> bool:
    return any(c in INVALID_CHARACTERS for c in unicodedata.normalize("NFC", text))


def cashtags(text: str) -> list[str]:
    return _CASHTAG.findall(text)


IMAGE = MediaKind(
    "image",
    "images",
    frozenset({"image/jpeg", "image/png", "image/webp"}),
    max_bytes=5 * MB,
    max_items=4,
)
GIF = MediaKind("GIF", "GIFs", frozenset({"image/gif"}), max_bytes=15 * MB, max_items=1)
VIDEO = MediaKind(
    "video",
    "videos",
    frozenset({"video/mp4", "video/quicktime"}),
    max_bytes=512 * MB,
    max_items=1,
    min_seconds=0.5,
    max_seconds=140,
)
MEDIA = MediaPolicy(
    kinds=(IMAGE, GIF, VIDEO),
    mixing=False,
    accepted="JPEG, PNG, WEBP and GIF images and MP4 or MOV videos",
    combos="up to 4 images, or 1 GIF, or 1 video",
)


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    maximum = limit(limits, ("max_weighted_length", "max_characters"), MAX_WEIGHTED_LENGTH)
    count = weighted_length(text)
    verdicts = text_length(NETWORK, count=count, maximum=maximum, unit="weighted characters")
    if not text.strip() and not media:
        verdicts.append(needs_content(NETWORK, "text or media"))
    if has_invalid_characters(text):
        verdicts.append(
            error(
                NETWORK,
                "text",
                "X refuses the invisible characters U+FFFE, U+FEFF and U+FFFF; "
                "this copy has at least one.",
            )
        )
    tags = cashtags(text)
    if len(tags) > 1:
        verdicts.append(
            error(
                NETWORK,
                "text",
                f"X allows 1 cashtag per post through its API; this copy has {len(tags)}.",
                len(tags),
                1,
            )
        )
    verdicts += check_media(NETWORK, media, MEDIA)
    return measured(NETWORK, "weighted characters", count, maximum, verdicts)
