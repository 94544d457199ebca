"""X weighted length: twitter-text's conformance cases, then X's own rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.networks.base import Network
from app.networks.rules import Level, MediaFacts, check_content
from app.networks.x import V2, V3, weighted_length

CORPUS = json.loads(
    (Path(__file__).parent / "data" / "twitter_text_validate_weighted.json").read_text()
)
CASES = [
    pytest.param(section, case, id=f"{section}: {case['description']}"[:120])
    for section, cases in CORPUS["tests"].items()
    for case in cases
]
V3_CASES = [c for c in CASES if CORPUS["config"][c.values[0]] == "v3"]


def test_corpus_has_every_weighted_section_of_v3_1_0() -> None:
    sizes = {section: len(cases) for section, cases in CORPUS["tests"].items()}
    assert sizes == {
        "WeightedTweetsCounterTest": 20,
        "WeightedTweetsWithDiscountedEmojiCounterTest": 22,
        "UnicodeDirectionalMarkerCounterTest": 2,
    }


@pytest.mark.parametrize(("section", "case"), CASES)
def test_conformance_weighted_length(section: str, case: dict) -> None:
    config = V2 if CORPUS["config"][section] == "v2" else V3
    expected = case["expected"]
    assert weighted_length(case["text"], **config) == expected["weightedLength"]
    # The transcription itself: the UTF-16 length the corpus states.
    assert len(case["text"].encode("utf-16-le")) // 2 - 1 == expected["displayRangeEnd"]


@pytest.mark.parametrize(("section", "case"), V3_CASES)
def test_conformance_validity_with_v3_rules(section: str, case: dict) -> None:
    """``valid`` = 0 < weighted length ≤ 280 and no invalid character (v3 sections)."""
    check = check_content(Network.x, text=case["text"], media=[], link=None)
    text_errors = [v for v in check.verdicts if v.field == "text" and v.level is Level.error]
    assert (not text_errors) == case["expected"]["valid"]
    assert check.measure is not None
    assert check.measure.count == case["expected"]["weightedLength"]


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("\U0001f408\u200d\u2b1b", 2),  # black cat, Emoji 13.0 ZWJ sequence
        ("\U0001f9d1\u200d\U0001f9d1\u200d\U0001f9d2", 2),  # family, Emoji 15.1
        ("\U0001fae0", 2),  # melting face, Emoji 14.0
        ("\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea", 4),  # two flags
        ("©", 2),
        ("e\u0301", 1),  # NFC composes it
        ("中文", 4),
        ("☺\ufe0e", 4),  # text presentation is not an emoji sequence
        ("", 0),
    ],
)
def test_weighted_length_beyond_the_corpus(text: str, count: int) -> None:
    assert weighted_length(text) == count


def _check(text: str = "hello", media: list[MediaFacts] | None = None, **limits):
    return check_content(Network.x, text=text, media=media or [], link=None, limits=limits)


def test_boundary_280_and_281() -> None:
    assert _check("a" * 280).ok
    over = _check("a" * 281)
    assert not over.ok
    assert over.verdicts[0].message == "X allows 280 weighted characters; this copy has 281."
    assert (over.verdicts[0].count, over.verdicts[0].limit) == (281, 280)
    assert over.measure is not None and over.measure.unit == "weighted characters"


def test_cjk_and_urls_at_the_boundary() -> None:
    assert _check("中" * 140).ok
    assert not _check("中" * 141).ok
    text = "a" * 256 + " https://example.com/" + "x" * 100  # a URL counts 23, whatever its length
    assert _check(text).measure.count == 280  # type: ignore[union-attr]
    assert _check(text).ok


def test_premium_limit_override() -> None:
    assert _check("a" * 4000, max_weighted_length=4000).ok
    assert not _check("a" * 4001, max_weighted_length=4000).ok


def test_needs_text_or_media() -> None:
    empty = _check("   ")
    assert not empty.ok
    assert "X needs text or media" in empty.verdicts[0].message
    assert _check("", [MediaFacts("image/png", 1000)]).ok


def test_invalid_characters_and_cashtags() -> None:
    assert not _check("hi\ufffe").ok
    assert _check("buy $AAPL now").ok
    two = _check("$AAPL and $TSLA")
    assert not two.ok
    assert "1 cashtag per post" in two.verdicts[0].message


def test_media_rules() -> None:
    image = MediaFacts("image/jpeg", 1_000_000)
    assert _check(media=[image] * 4).ok
    five = _check(media=[image] * 5)
    assert [v.message for v in five.verdicts] == ["X allows 4 images per post; this copy has 5."]
    big = _check(media=[MediaFacts("image/png", 5 * 1024 * 1024 + 1)])
    assert big.verdicts[0].message == (
        "X allows images up to 5 MB (5,242,880 bytes); media 1 has 5,242,881 bytes."
    )
    assert _check(media=[MediaFacts("image/gif", 15 * 1024 * 1024)]).ok
    mixed = _check(media=[image, MediaFacts("video/mp4", 1000, duration_seconds=10)])
    assert any("mixes images and videos" in v.message for v in mixed.verdicts)
    long = _check(media=[MediaFacts("video/mp4", 1000, duration_seconds=140.5)])
    assert long.verdicts[0].message == (
        "X allows videos up to 140 seconds; media 1 lasts 140.5 seconds."
    )
    tiff = _check(media=[MediaFacts("image/tiff", 1000)])
    assert "media 1 is image/tiff" in tiff.verdicts[0].message
