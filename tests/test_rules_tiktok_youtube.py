"""TikTok and YouTube rules: units, boundaries, media required, limits, overrides."""

from __future__ import annotations

import pytest

from app.networks.base import Network
from app.networks.rules import Check, Level, MediaFacts, check_content
from app.networks.tiktok import split_photo_copy
from app.networks.youtube import split_copy

MB = 1024 * 1024
GB = 1024 * MB
EMOJI = "\U0001f600"  # 2 UTF-16 units, 4 UTF-8 bytes, 1 code point
MP4 = MediaFacts("video/mp4", 10 * MB, 1080, 1920, duration_seconds=30, video_codec="h264")
JPEG = MediaFacts("image/jpeg", 1 * MB, 1080, 1350)
WEBP = MediaFacts("image/webp", 1 * MB, 1080, 1350)


def check(network: Network, text: str = "Hello", media=None, link=None, **limits) -> Check:
    return check_content(network, text=text, media=media or [], link=link, limits=limits)


def errors(c: Check) -> list[str]:
    return [v.message for v in c.verdicts if v.level is Level.error]


def warnings(c: Check) -> list[str]:
    return [v.message for v in c.verdicts if v.level is Level.warning]


def video(**changes) -> MediaFacts:
    fields = {
        "mime_type": "video/mp4",
        "size_bytes": 10 * MB,
        "duration_seconds": 30.0,
        "video_codec": "h264",
    }
    return MediaFacts(**(fields | changes))


# -- TikTok: video caption ---------------------------------------------------------


def test_tiktok_caption_exactly_then_one_over() -> None:
    at = check(Network.tiktok, "a" * 2200, [MP4])
    assert at.ok, at.verdicts
    assert at.measure is not None
    assert (at.measure.count, at.measure.limit, at.measure.unit) == (
        2200,
        2200,
        "UTF-16 code units",
    )
    over = check(Network.tiktok, "a" * 2201, [MP4])
    assert errors(over) == [
        "TikTok allows 2,200 UTF-16 code units in a video's caption; this copy has 2,201."
    ]
    verdict = over.verdicts[0]
    assert (verdict.network, verdict.field, verdict.count, verdict.limit) == (
        Network.tiktok,
        "text",
        2201,
        2200,
    )


def test_tiktok_counts_utf16_units() -> None:
    # An emoji is 2 UTF-16 units: 1,100 of them fill the caption, one more letter does not fit.
    assert check(Network.tiktok, EMOJI * 1100, [MP4]).ok
    over = check(Network.tiktok, EMOJI * 1100 + "a", [MP4])
    assert over.measure is not None and over.measure.count == 2201
    assert not over.ok
    # Accented letters in the BMP count 1 each, whatever their UTF-8 size.
    assert check(Network.tiktok, "é" * 2200, [MP4]).ok


def test_tiktok_caption_limit_overridable() -> None:
    assert not check(Network.tiktok, "a" * 150, [MP4], max_characters=150 - 1).ok
    assert check(Network.tiktok, "a" * 2500, [MP4], max_characters=2500).ok


def test_tiktok_hashtags_and_mentions_count_as_text() -> None:
    text = " ".join(f"#tag{i} @user{i}" for i in range(40))
    c = check(Network.tiktok, text, [MP4])
    assert c.ok and not warnings(c)
    assert c.measure is not None and c.measure.count == len(text)


# -- TikTok: photo post title / description -----------------------------------------


def test_tiktok_photo_title_is_the_first_line() -> None:
    assert split_photo_copy("  Title line \n\nThe description.\nMore. ") == (
        "Title line",
        "The description.\nMore.",
    )
    at = check(Network.tiktok, "t" * 90 + "\n" + "d" * 4000, [JPEG])
    assert at.ok, at.verdicts
    assert at.measure is not None and (at.measure.count, at.measure.limit) == (90, 90)
    over = check(Network.tiktok, "t" * 91 + "\n" + "d" * 4001, [JPEG])
    assert errors(over) == [
        "TikTok allows 90 UTF-16 code units in a photo post's title (the copy's first line); "
        "this copy has 91.",
        "TikTok allows 4,000 UTF-16 code units in a photo post's description "
        "(the copy after its first line); this copy has 4,001.",
    ]


def test_tiktok_photo_limits_overridable() -> None:
    text = "t" * 50 + "\n" + "d" * 100
    assert not check(Network.tiktok, text, [JPEG], max_title_characters=49).ok
    assert not check(Network.tiktok, text, [JPEG], max_description_characters=99).ok
    assert check(Network.tiktok, "t" * 120, [JPEG], max_title_characters=120).ok


# -- TikTok: media -----------------------------------------------------------------


def test_tiktok_needs_media() -> None:
    assert errors(check(Network.tiktok, "Hello")) == [
        "TikTok needs at least one video or photo; this copy has none."
    ]


def test_tiktok_video_size_duration_format() -> None:
    assert check(Network.tiktok, media=[video(size_bytes=4 * GB, duration_seconds=600)]).ok
    assert errors(check(Network.tiktok, media=[video(size_bytes=4 * GB + 1)])) == [
        "TikTok allows videos up to 4,096 MB (4,294,967,296 bytes); "
        "media 1 has 4,294,967,297 bytes."
    ]
    assert errors(check(Network.tiktok, media=[video(duration_seconds=600.5)])) == [
        "TikTok allows videos up to 600 seconds; media 1 lasts 600.5 seconds."
    ]
    for mime in ("video/webm", "video/quicktime"):
        assert check(Network.tiktok, media=[video(mime_type=mime)]).ok
    assert errors(check(Network.tiktok, media=[video(mime_type="video/x-msvideo")])) == [
        "TikTok accepts MP4, WebM or MOV videos and JPEG or WebP photos; "
        "media 1 is video/x-msvideo."
    ]


def test_tiktok_creator_max_duration_from_limits() -> None:
    long = video(duration_seconds=3600)
    assert not check(Network.tiktok, media=[long]).ok
    assert check(Network.tiktok, media=[long], max_video_post_duration_sec=3600).ok
    assert not check(Network.tiktok, media=[video(duration_seconds=61)], max_video_seconds=60).ok


def test_tiktok_one_video_only() -> None:
    assert errors(check(Network.tiktok, media=[MP4, MP4])) == [
        "TikTok allows 1 video per post; this copy has 2."
    ]


def test_tiktok_photos_count_size_format_no_mixing() -> None:
    assert check(Network.tiktok, media=[JPEG, WEBP] * 17 + [JPEG]).ok  # 35
    assert errors(check(Network.tiktok, media=[JPEG] * 36)) == [
        "TikTok allows 35 photos per post; this copy has 36."
    ]
    assert check(Network.tiktok, media=[JPEG] * 36, max_photos=40).ok
    big = MediaFacts("image/jpeg", 20 * MB + 1)
    assert check(Network.tiktok, media=[MediaFacts("image/jpeg", 20 * MB)]).ok
    assert errors(check(Network.tiktok, media=[big])) == [
        "TikTok allows photos up to 20 MB (20,971,520 bytes); media 1 has 20,971,521 bytes."
    ]
    assert not check(Network.tiktok, media=[MediaFacts("image/png", 1000)]).ok
    assert errors(check(Network.tiktok, media=[MP4, JPEG])) == [
        "TikTok allows one video or up to 35 photos per post; this copy mixes videos and photos."
    ]


def test_tiktok_link_warnings() -> None:
    c = check(Network.tiktok, "See https://example.com", [MP4], link="https://example.org")
    assert c.ok
    assert warnings(c) == [
        "TikTok does not make links in a caption clickable; this copy has 1.",
        "TikTok cannot attach a link to a post; this copy has 1, which will not be published.",
    ]


# -- YouTube: title and description ---------------------------------------------------


def test_youtube_split() -> None:
    assert split_copy("\n  My video \n\nLine one.\nLine two.\n") == (
        "My video",
        "Line one.\nLine two.",
    )
    assert split_copy("Only a title") == ("Only a title", "")


def test_youtube_title_exactly_then_one_over() -> None:
    at = check(Network.youtube, "a" * 100, [MP4])
    assert at.ok, at.verdicts
    assert at.measure is not None
    assert (at.measure.count, at.measure.limit) == (100, 100)
    over = check(Network.youtube, "a" * 101 + "\nDescription", [MP4])
    assert errors(over) == [
        "YouTube allows 100 characters in a title (the copy's first line); this copy has 101."
    ]
    assert (over.verdicts[0].count, over.verdicts[0].limit) == (101, 100)


def test_youtube_title_counts_code_points() -> None:
    assert check(Network.youtube, EMOJI * 100, [MP4]).ok
    assert not check(Network.youtube, EMOJI * 101, [MP4]).ok


def test_youtube_needs_a_title() -> None:
    for text in ("", "   ", "\n\n  \n"):
        assert errors(check(Network.youtube, text, [MP4])) == [
            "YouTube needs a title (the copy's first line); this copy has none."
        ]


def test_youtube_description_counts_utf8_bytes() -> None:
    assert check(Network.youtube, "Title\n" + "a" * 5000, [MP4]).ok
    assert errors(check(Network.youtube, "Title\n" + "a" * 5001, [MP4])) == [
        "YouTube allows 5,000 bytes (UTF-8) in a description (the copy after its first line); "
        "this copy has 5,001."
    ]
    # An emoji is 4 bytes: 1,250 fill the description exactly.
    assert check(Network.youtube, "Title\n" + EMOJI * 1250, [MP4]).ok
    assert not check(Network.youtube, "Title\n" + EMOJI * 1250 + "a", [MP4]).ok
    # "é" is 2 bytes.
    assert not check(Network.youtube, "Title\n" + "é" * 2501, [MP4]).ok


def test_youtube_limits_overridable() -> None:
    assert not check(Network.youtube, "a" * 60, [MP4], max_characters=59).ok
    assert not check(Network.youtube, "T\n" + "a" * 60, [MP4], max_description_bytes=59).ok
    assert check(Network.youtube, "T\n" + "a" * 6000, [MP4], max_description_bytes=6000).ok


def test_youtube_refuses_angle_brackets() -> None:
    c = check(Network.youtube, "Tips <new>\nUse a > b and <this>", [MP4])
    assert errors(c) == [
        "YouTube allows no < or > in a video's title; this copy's title has 2.",
        "YouTube allows no < or > in a video's description; this copy's description has 3.",
    ]


# -- YouTube: media ----------------------------------------------------------------


def test_youtube_needs_one_video() -> None:
    assert errors(check(Network.youtube, "Title")) == [
        "YouTube needs at least one video; this copy has none."
    ]
    assert errors(check(Network.youtube, "Title", [JPEG])) == [
        "YouTube accepts videos only; media 1 is image/jpeg."
    ]
    assert errors(check(Network.youtube, "Title", [MP4, MP4])) == [
        "YouTube allows 1 video per post; this copy has 2."
    ]
    assert check(Network.youtube, "Title", [video(mime_type="video/x-matroska")]).ok


def test_youtube_video_size_and_duration() -> None:
    assert check(Network.youtube, "T", [video(size_bytes=256 * GB, duration_seconds=43200)]).ok
    assert errors(check(Network.youtube, "T", [video(size_bytes=256 * GB + 1)])) == [
        "YouTube allows videos up to 262,144 MB (274,877,906,944 bytes); "
        "media 1 has 274,877,906,945 bytes."
    ]
    # No duration limit by default; a channel may set one (an unverified account: 15 min).
    assert check(Network.youtube, "T", [video(duration_seconds=900)], max_video_seconds=900).ok
    assert errors(
        check(Network.youtube, "T", [video(duration_seconds=901)], max_video_seconds=900)
    ) == ["YouTube allows videos up to 900 seconds; media 1 lasts 901 seconds."]


def test_youtube_link_warning() -> None:
    c = check(Network.youtube, "Title\nhttps://example.com", [MP4], link="https://example.org")
    assert c.ok
    assert warnings(c) == [
        "YouTube cannot attach a link to a video; this copy has 1, which will not be "
        "published (put it in the description instead)."
    ]


@pytest.mark.parametrize("network", [Network.tiktok, Network.youtube])
def test_verdicts_name_the_network(network: Network) -> None:
    c = check(network, "x" * 20_000)
    assert c.verdicts and all(v.network is network for v in c.verdicts)
    name = {Network.tiktok: "TikTok", Network.youtube: "YouTube"}[network]
    assert all(v.message.startswith(name) and v.message.endswith(".") for v in c.verdicts)
