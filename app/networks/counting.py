"""Shared pieces of the network rules: text units, limits, verdict sentences, media policy.

Pure functions only (no database, no HTTP). Each ``app/networks/<network>.py`` combines
them with its own facts from ``platforms.md``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import regex

from app.networks.base import Network
from app.networks.rules import Check, Level, Measure, MediaFacts, Verdict

with warnings.catch_warnings():
    # twitter-text-parser loads its emoji table through pkg_resources, which newer
    # setuptools flags as deprecated; we only use its URL extraction.
    warnings.simplefilter("ignore")
    from twitter_text import extract_urls_with_indices

NAMES: dict[Network, str] = {
    Network.x: "X",
    Network.bluesky: "Bluesky",
    Network.mastodon: "Mastodon",
    Network.threads: "Threads",
    Network.tiktok: "TikTok",
    Network.youtube: "YouTube",
    Network.linkedin: "LinkedIn",
    Network.instagram: "Instagram",
    Network.facebook: "Facebook",
    Network.telegram: "Telegram",
    Network.discord: "Discord",
    Network.matrix: "Matrix",
    Network.webhook: "The webhook",
    Network.sandbox: "The sandbox",
}

MB = 1024 * 1024

# -- text units ----------------------------------------------------------------

_GRAPHEME = regex.compile(r"\X")
_HASHTAG = regex.compile(r"(?<![\w&#])[#＃](\w+)")
_MENTION = regex.compile(r"(?<![\w@])@([\w.]+)")


# In ASCII text every code point is a cluster of its own, but CR LF, which is one
# (UAX #29: only Extend, ZWJ, SpacingMark, Prepend, Hangul and regional indicators join
# code points, and none of them is ASCII). The fast paths below rely on it.


def graphemes(text: str) -> list[str]:
    """User-perceived characters (extended grapheme clusters, UAX #29)."""
    if text.isascii() and "\r\n" not in text:
        return list(text)
    return _GRAPHEME.findall(text)


def grapheme_count(text: str) -> int:
    if text.isascii():
        return len(text) - text.count("\r\n")
    return len(_GRAPHEME.findall(text))


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def hashtags(text: str) -> list[str]:
    return _HASHTAG.findall(text)


def mentions(text: str) -> list[str]:
    return _MENTION.findall(text)


@functools.lru_cache(maxsize=256)
def url_spans(text: str, without_protocol: bool = True) -> tuple[tuple[int, int, str], ...]:
    """(start, end, url) of each link twitter-text finds. Remembered for the last few
    texts: one copy is often checked for several networks (X, Threads) in a row."""
    return tuple(
        (u["indices"][0], u["indices"][1], u["url"])
        for u in extract_urls_with_indices(text, without_protocol)
    )


def urls(text: str, *, without_protocol: bool = True) -> list[str]:
    """Links as twitter-text finds them (bare domains such as ``example.com`` included)."""
    return [url for _, _, url in url_spans(text, without_protocol)]


# -- limits --------------------------------------------------------------------


def limit(limits: Mapping[str, Any] | None, keys: Iterable[str], default: int) -> int:
    """The channel's verified value under the first of ``keys`` present, else ``default``."""
    for key in keys:
        value = (limits or {}).get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and value > 0:
            return int(value)
        if isinstance(value, str) and value.isdigit() and int(value) > 0:
            return int(value)
    return default


# -- verdicts ------------------------------------------------------------------


def error(network: Network, field: str, message: str, count: int | None = None,
          limit_: int | None = None) -> Verdict:  # fmt: skip
    return Verdict(Level.error, network, field, message, count, limit_)


def warning(network: Network, field: str, message: str, count: int | None = None,
            limit_: int | None = None) -> Verdict:  # fmt: skip
    return Verdict(Level.warning, network, field, message, count, limit_)


def text_length(
    network: Network,
    *,
    count: int,
    maximum: int,
    unit: str,
    how: str = "",
    field: str = "text",
) -> list[Verdict]:
    """An error when ``count`` exceeds ``maximum``: "X allows 280 weighted characters; this
    copy has 291." ``how`` qualifies the unit ("in a caption", "counting emoji as ...")."""
    if count <= maximum:
        return []
    qualifier = f" {how}" if how else ""
    return [
        error(
            network,
            field,
            f"{NAMES[network]} allows {maximum:,} {unit}{qualifier}; this copy has {count:,}.",
            count,
            maximum,
        )
    ]


def measured(
    network: Network, unit: str, count: int, maximum: int, verdicts: list[Verdict]
) -> Check:
    return Check(Measure(network, unit, count, maximum), verdicts)


def size(n: int) -> str:
    """A byte size the way people read it, with the exact figure."""
    if n >= MB and n % MB == 0:
        return f"{n // MB:,} MB ({n:,} bytes)"
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000:,} MB ({n:,} bytes)"
    return f"{n:,} bytes"


def seconds(s: float) -> str:
    return f"{s:g} seconds"


# -- media -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MediaKind:
    """One kind of attachment a network accepts (an image, a GIF, a video...)."""

    label: str  # singular noun for messages: "image", "GIF", "video"
    plural: str
    mime_types: frozenset[str] | None = None  # exact types; None: any under ``prefix``
    prefix: str | None = None  # "image/", "video/"
    max_bytes: int | None = None
    max_items: int | None = None
    min_seconds: float | None = None
    max_seconds: float | None = None
    codecs: frozenset[str] | None = None  # lower-case ffprobe codec names
    alt: bool = False  # the network takes alt text for this kind

    def accepts(self, mime_type: str) -> bool:
        mime = mime_type.lower()
        if self.mime_types is not None:
            return mime in self.mime_types
        return self.prefix is not None and mime.startswith(self.prefix)


@dataclass(frozen=True, slots=True)
class MediaPolicy:
    kinds: tuple[MediaKind, ...]
    max_items: int | None = None
    mixing: bool = True  # may different kinds share one post
    required: bool = False
    alt_missing: Level | None = None  # verdict when an alt-capable item has no alt text
    alt_max: int | None = None
    accepted: str = ""  # human list of what is accepted, for the wrong-type sentence
    combos: str = ""  # human list of allowed combinations, for the mixing sentence


def _ordinal(i: int) -> str:
    return f"media {i + 1}"


def check_media(network: Network, media: list[MediaFacts], policy: MediaPolicy) -> list[Verdict]:
    name = NAMES[network]
    out: list[Verdict] = []
    if policy.required and not media:
        kinds = " or ".join(k.label for k in policy.kinds)
        out.append(
            error(network, "media", f"{name} needs at least one {kinds}; this copy has none.", 0, 1)
        )
        return out
    if policy.max_items is not None and len(media) > policy.max_items:
        out.append(
            error(
                network,
                "media",
                f"{name} allows {policy.max_items:,} media files per post; "
                f"this copy has {len(media):,}.",
                len(media),
                policy.max_items,
            )
        )
    per_kind: dict[str, int] = {}
    kinds_used: list[MediaKind] = []
    for i, item in enumerate(media):
        field = f"media[{i}]"
        kind = next((k for k in policy.kinds if k.accepts(item.mime_type)), None)
        if kind is None:
            out.append(
                error(
                    network,
                    field,
                    f"{name} accepts {policy.accepted}; {_ordinal(i)} is {item.mime_type}.",
                )
            )
            continue
        per_kind[kind.label] = per_kind.get(kind.label, 0) + 1
        if kind not in kinds_used:
            kinds_used.append(kind)
        if kind.max_bytes is not None and item.size_bytes > kind.max_bytes:
            out.append(
                error(
                    network,
                    field,
                    f"{name} allows {kind.plural} up to {size(kind.max_bytes)}; "
                    f"{_ordinal(i)} has {item.size_bytes:,} bytes.",
                    item.size_bytes,
                    kind.max_bytes,
                )
            )
        d = item.duration_seconds
        if d is not None and kind.max_seconds is not None and d > kind.max_seconds:
            out.append(
                error(
                    network,
                    field,
                    f"{name} allows {kind.plural} up to {seconds(kind.max_seconds)}; "
                    f"{_ordinal(i)} lasts {d:g} seconds.",
                    round(d),
                    round(kind.max_seconds),
                )
            )
        if d is not None and kind.min_seconds is not None and d < kind.min_seconds:
            out.append(
                error(
                    network,
                    field,
                    f"{name} needs {kind.plural} of at least {seconds(kind.min_seconds)}; "
                    f"{_ordinal(i)} lasts {d:g} seconds.",
                    round(d),
                    round(kind.min_seconds),
                )
            )
        codec = (item.video_codec or "").lower()
        if codec and kind.codecs is not None and codec not in kind.codecs:
            allowed = ", ".join(sorted(c.upper() for c in kind.codecs))
            out.append(
                error(
                    network,
                    field,
                    f"{name} accepts {kind.plural} encoded as {allowed}; "
                    f"{_ordinal(i)} is {codec.upper()}.",
                )
            )
        if kind.alt and policy.alt_missing is not None and not item.alt.strip():
            out.append(
                Verdict(
                    policy.alt_missing,
                    network,
                    f"{field}.alt",
                    f"{name} expects alt text on every {kind.label}; {_ordinal(i)} has none.",
                    0,
                    policy.alt_max,
                )
            )
        if kind.alt and policy.alt_max is not None and len(item.alt) > policy.alt_max:
            out.append(
                error(
                    network,
                    f"{field}.alt",
                    f"{name} allows alt text of {policy.alt_max:,} characters; "
                    f"{_ordinal(i)} has {len(item.alt):,}.",
                    len(item.alt),
                    policy.alt_max,
                )
            )
    for kind in kinds_used:
        n = per_kind[kind.label]
        if kind.max_items is not None and n > kind.max_items:
            noun = kind.label if kind.max_items == 1 else kind.plural
            out.append(
                error(
                    network,
                    "media",
                    f"{name} allows {kind.max_items:,} {noun} per post; this copy has {n:,}.",
                    n,
                    kind.max_items,
                )
            )
    if not policy.mixing and len(kinds_used) > 1:
        mixed = " and ".join(k.plural for k in kinds_used)
        out.append(
            error(
                network,
                "media",
                f"{name} allows {policy.combos} per post; this copy mixes {mixed}.",
            )
        )
    return out


def needs_content(network: Network, what: str) -> Verdict:
    """The copy is empty where the network needs something."""
    return error(network, "text", f"{NAMES[network]} needs {what}; this copy has none.", 0, 1)
