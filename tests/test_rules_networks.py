"""Network rules other than X: units, boundaries, media, warnings, limit overrides."""

from __future__ import annotations

import pytest

from app.networks.base import Network
from app.networks.rules import Check, Level, MediaFacts, check_content
from app.networks.sandbox import SANDBOX_LIMITS

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 1 grapheme, 25 bytes
FLAG = "\U0001f1eb\U0001f1f7"  # 1 grapheme, 8 bytes
ACCENT = "e\u0301"  # 1 grapheme, 3 bytes
JPEG = MediaFacts("image/jpeg", 100_000, 1080, 1080, alt="A cat")


def check(network: Network, text: str = "Hello", media=None, link=None, **limits) -> Check:
    return check_content(network, text=text, media=media or [], link=link, limits=limits)


def errors(c: Check) -> list[str]:
    return [v.message for v in c.verdicts if v.level is Level.error]


def warnings(c: Check) -> list[str]:
    return [v.message for v in c.verdicts if v.level is Level.warning]


# -- boundaries: the limit exactly, then one more ----------------------------------

BOUNDARIES = [
    (Network.bluesky, 300, "Bluesky allows 300 characters; this copy has 301."),
    (
        Network.mastodon,
        500,
        "Mastodon allows 500 characters on this instance (a link counts 23); this copy has 501.",
    ),
    (
        Network.threads,
        500,
        "Threads allows 500 characters (each emoji counts as its UTF-8 bytes); this copy has 501.",
    ),
    (Network.linkedin, 3000, "LinkedIn allows 3,000 characters; this copy has 3,001."),
    (Network.facebook, 63206, "Facebook allows 63,206 characters; this copy has 63,207."),
    (Network.telegram, 4096, "Telegram allows 4,096 characters; this copy has 4,097."),
    (Network.discord, 2000, "Discord allows 2,000 characters; this copy has 2,001."),
    (Network.webhook, 100_000, "The webhook allows 100,000 characters; this copy has 100,001."),
    (Network.sandbox, 5000, "The sandbox allows 5,000 characters; this copy has 5,001."),
    (Network.matrix, 60_000, "Matrix allows 60,000 bytes of text; this copy has 60,001."),
]


@pytest.mark.parametrize(("network", "maximum", "message"), BOUNDARIES)
def test_text_limit_exactly_then_one_over(network: Network, maximum: int, message: str) -> None:
    at = check(network, "a" * maximum)
    assert at.ok, at.verdicts
    assert at.measure is not None and (at.measure.count, at.measure.limit) == (maximum, maximum)
    over = check(network, "a" * (maximum + 1))
    assert errors(over) == [message]
    verdict = over.verdicts[0]
    assert (verdict.network, verdict.field, verdict.count, verdict.limit) == (
        network,
        "text",
        maximum + 1,
        maximum,
    )
    assert verdict.as_error() == {"field": "text", "network": network.value, "message": message}


def test_instagram_boundary() -> None:
    assert check(Network.instagram, "a" * 2200, [JPEG]).ok
    assert errors(check(Network.instagram, "a" * 2201, [JPEG])) == [
        "Instagram allows 2,200 characters; this copy has 2,201."
    ]


# -- graphemes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cluster", "graphemes", "utf8"),
    [(FAMILY, 1, 25), (FLAG, 1, 8), (ACCENT, 1, 3), ("日", 1, 3), ("a", 1, 1)],
)
def test_bluesky_counts_graphemes(cluster: str, graphemes: int, utf8: int) -> None:
    c = check(Network.bluesky, cluster * 10)
    assert c.measure is not None and c.measure.count == 10 * graphemes
    assert len((cluster * 10).encode()) == 10 * utf8


@pytest.mark.parametrize("cluster", [FAMILY, FLAG, ACCENT, "日"])
def test_mastodon_counts_graphemes(cluster: str) -> None:
    assert check(Network.mastodon, cluster * 500).ok
    assert not check(Network.mastodon, cluster * 501).ok


def test_bluesky_bytes_limit_under_the_grapheme_limit() -> None:
    text = FAMILY * 121  # 121 graphemes, 3,025 bytes
    c = check(Network.bluesky, text)
    assert c.measure is not None and c.measure.count == 121
    assert errors(c) == ["Bluesky allows 3,000 bytes of text (UTF-8); this copy has 3,025."]
    assert check(Network.bluesky, FAMILY * 120).ok  # 3,000 bytes exactly


def test_threads_counts_emoji_as_utf8_bytes() -> None:
    c = check(Network.threads, "Hi " + FAMILY + "\U0001f600" + ACCENT)
    assert c.measure is not None and c.measure.count == 3 + 25 + 4 + 1
    assert check(Network.threads, "\U0001f600" * 125).ok  # 500
    assert not check(Network.threads, "\U0001f600" * 125 + "a").ok
    assert check(Network.threads, "日本" * 250).ok  # CJK is not emoji: 1 each


def test_cjk_counts_one_on_grapheme_networks() -> None:
    assert check(Network.bluesky, "日" * 300).ok
    assert not check(Network.bluesky, "日" * 301).ok


# -- Mastodon URLs and mentions ------------------------------------------------------


def test_mastodon_urls_count_23_whatever_their_length() -> None:
    url = "https://example.com/" + "p" * 300
    c = check(Network.mastodon, "Read " + url)
    assert c.measure is not None and c.measure.count == 5 + 23
    short = check(Network.mastodon, "Read https://t.co")
    assert short.measure is not None and short.measure.count == 5 + 23
    bare = check(Network.mastodon, "Read example.com")  # no protocol: counted as written
    assert bare.measure is not None and bare.measure.count == 16


def test_mastodon_remote_mentions_count_without_domain() -> None:
    c = check(Network.mastodon, "@alice@mastodon.example.social hello @bob")
    assert c.measure is not None and c.measure.count == len("@alice hello @bob")
    email = check(Network.mastodon, "write to me@example.org")
    assert email.measure is not None and email.measure.count == len("write to me@example.org")


def test_mastodon_instance_limits_override() -> None:
    text = "a" * 1000
    assert not check(Network.mastodon, text).ok
    assert check(Network.mastodon, text, max_characters=1000).ok
    over = check(Network.mastodon, text + "a", max_characters=1000)
    assert errors(over) == [
        "Mastodon allows 1,000 characters on this instance (a link counts 23); this copy has 1,001."
    ]
    c = check(Network.mastodon, "x https://example.com", characters_reserved_per_url=30)
    assert c.measure is not None and c.measure.count == 32


def test_mastodon_media() -> None:
    image = MediaFacts("image/png", 1000, alt="A chart")
    assert check(Network.mastodon, media=[image] * 4).ok
    assert errors(check(Network.mastodon, media=[image] * 5)) == [
        "Mastodon allows 4 media files per post; this copy has 5."
    ]
    assert check(Network.mastodon, media=[image] * 6, max_media_attachments=6).ok
    no_alt = check(Network.mastodon, media=[MediaFacts("image/png", 1000)])
    assert no_alt.ok
    assert warnings(no_alt) == ["Mastodon expects alt text on every image; media 1 has none."]
    assert no_alt.verdicts[0].field == "media[0].alt"
    big = check(Network.mastodon, media=[MediaFacts("image/png", 16_777_217, alt="x")])
    assert errors(big) == [
        "Mastodon allows images up to 16 MB (16,777,216 bytes); media 1 has 16,777,217 bytes."
    ]
    video = MediaFacts("video/mp4", 1000, alt="clip")
    assert any("mixes" in m for m in errors(check(Network.mastodon, media=[image, video])))
    assert errors(check(Network.mastodon, media=[MediaFacts("image/png", 1, alt="x" * 1501)]))
    narrow = check(
        Network.mastodon,
        media=[MediaFacts("image/webp", 1, alt="x")],
        supported_mime_types=["image/jpeg", "image/png"],
    )
    assert not narrow.ok


def test_mastodon_empty_needs_media() -> None:
    assert errors(check(Network.mastodon, "")) == [
        "Mastodon needs text or media; this copy has none."
    ]
    assert check(Network.mastodon, "", [MediaFacts("image/png", 1, alt="x")]).ok


# -- Bluesky ---------------------------------------------------------------------------


def test_bluesky_empty_only_with_an_embed() -> None:
    assert not check(Network.bluesky, "").ok
    assert check(Network.bluesky, "", link="https://example.com").ok
    assert check(Network.bluesky, "", [MediaFacts("image/png", 1000, alt="x")]).ok


def test_bluesky_media() -> None:
    image = MediaFacts("image/jpeg", 2_000_000, alt="A dog")
    assert check(Network.bluesky, media=[image] * 4).ok
    assert errors(check(Network.bluesky, media=[image] * 5)) == [
        "Bluesky allows 4 images per post; this copy has 5."
    ]
    big = check(Network.bluesky, media=[MediaFacts("image/jpeg", 2_000_001, alt="x")])
    assert errors(big) == [
        "Bluesky allows images up to 2 MB (2,000,000 bytes); media 1 has 2,000,001 bytes."
    ]
    missing = check(Network.bluesky, media=[MediaFacts("image/jpeg", 10)])
    assert warnings(missing) == ["Bluesky expects alt text on every image; media 1 has none."]
    assert not check(Network.bluesky, media=[MediaFacts("video/quicktime", 10, alt="x")]).ok


# -- Instagram ---------------------------------------------------------------------------


def test_instagram_requires_media() -> None:
    assert errors(check(Network.instagram, "Hello")) == [
        "Instagram needs at least one image or video; this copy has none."
    ]


def test_instagram_hashtags() -> None:
    five = " ".join(f"#tag{i}" for i in range(5))
    assert check(Network.instagram, five, [JPEG]).verdicts == []
    six = check(Network.instagram, five + " #six", [JPEG])
    assert six.ok
    assert warnings(six) == ["Instagram now advises at most 5 hashtags; this copy has 6."]
    thirty = " ".join(f"#t{i}" for i in range(30))
    assert check(Network.instagram, thirty, [JPEG]).ok
    over = check(Network.instagram, thirty + " #more", [JPEG])
    assert errors(over) == ["Instagram allows 30 hashtags; this copy has 31."]
    assert check(Network.instagram, "C# and a#b are not tags", [JPEG]).verdicts == []


def test_instagram_links_are_warnings() -> None:
    c = check(Network.instagram, "Shop at https://shop.example.com today", [JPEG])
    assert c.ok
    assert warnings(c) == ["Instagram does not make links in a caption clickable; this copy has 1."]
    assert check(Network.instagram, "Bare example.com too", [JPEG]).verdicts
    with_link = check(Network.instagram, "Hi", [JPEG], link="https://example.com")
    assert with_link.ok and with_link.verdicts[0].field == "link"


def test_instagram_media_rules() -> None:
    png = check(Network.instagram, "Hi", [MediaFacts("image/png", 1000, alt="x")])
    assert errors(png) == [
        "Instagram accepts JPEG images and MP4 or MOV videos; media 1 is image/png."
    ]
    wide = check(Network.instagram, "Hi", [MediaFacts("image/jpeg", 1000, 2000, 1000, alt="x")])
    assert errors(wide) == [
        "Instagram accepts images from 4:5 (0.8) to 1.91:1; media 1 is 2000×1000 (2.00)."
    ]
    assert check(Network.instagram, "Hi", [MediaFacts("image/jpeg", 1, 1080, 1350, alt="x")]).ok
    assert not check(Network.instagram, "Hi", [JPEG] * 11).ok
    assert check(Network.instagram, "Hi", [JPEG] * 10).ok
    vp9 = MediaFacts("video/mp4", 1000, duration_seconds=30, video_codec="vp9")
    assert errors(check(Network.instagram, "Hi", [vp9])) == [
        "Instagram accepts videos encoded as H264, HEVC; media 1 is VP9."
    ]
    short = MediaFacts("video/mp4", 1000, duration_seconds=2, video_codec="h264")
    assert errors(check(Network.instagram, "Hi", [short])) == [
        "Instagram needs videos of at least 3 seconds; media 1 lasts 2 seconds."
    ]
    no_alt = check(Network.instagram, "Hi", [MediaFacts("image/jpeg", 1000)])
    assert warnings(no_alt) == ["Instagram expects alt text on every image; media 1 has none."]


# -- Telegram ------------------------------------------------------------------------------


def test_telegram_caption_switch() -> None:
    photo = MediaFacts("image/jpeg", 1000, 800, 600)
    assert check(Network.telegram, "a" * 1024, [photo]).ok
    c = check(Network.telegram, "a" * 1025, [photo])
    assert errors(c) == [
        "Telegram allows 1,024 characters in a media caption; this copy has 1,025."
    ]
    assert c.measure is not None and c.measure.limit == 1024
    assert check(Network.telegram, "a" * 1025).ok  # no media: 4,096
    assert check(Network.telegram, "", [photo]).ok  # a caption may be empty
    assert not check(Network.telegram, "").ok  # a message may not


def test_telegram_counts_utf16_units_and_photo_limits() -> None:
    c = check(Network.telegram, "\U0001f600" * 2048)
    assert c.ok and c.measure is not None and c.measure.count == 4096
    assert not check(Network.telegram, "\U0001f600" * 2049).ok
    big = MediaFacts("image/jpeg", 10 * 1024 * 1024 + 1)
    assert errors(check(Network.telegram, "x", [big])) == [
        "Telegram allows photos up to 10 MB (10,485,760 bytes); media 1 has 10,485,761 bytes."
    ]
    huge = MediaFacts("image/png", 1000, 9000, 1001)
    assert any("10,000 pixels" in m for m in errors(check(Network.telegram, "x", [huge])))
    assert not check(Network.telegram, "x", [MediaFacts("image/png", 1000, 2100, 100)]).ok
    assert not check(Network.telegram, "x", [JPEG] * 11).ok  # an album holds 10


# -- LinkedIn, Facebook, Discord, Threads, sandbox ---------------------------------------------


def test_linkedin_media_combinations() -> None:
    image = MediaFacts("image/png", 1000)
    assert check(Network.linkedin, media=[image] * 20).ok
    assert errors(check(Network.linkedin, media=[image] * 21)) == [
        "LinkedIn allows 20 images per post; this copy has 21."
    ]
    mixed = check(Network.linkedin, media=[image, MediaFacts("video/mp4", 1000)])
    assert errors(mixed) == [
        "LinkedIn allows 1 video, or 1 document, or up to 20 images per post; "
        "this copy mixes images and videos."
    ]


def test_facebook_photo_rules() -> None:
    assert check(Network.facebook, media=[MediaFacts("image/png", 4 * 1024 * 1024)]).ok
    assert not check(Network.facebook, media=[MediaFacts("image/png", 4 * 1024 * 1024 + 1)]).ok
    assert not check(Network.facebook, media=[MediaFacts("image/webp", 1000)]).ok
    assert check(Network.facebook, "", link="https://example.com").ok
    assert not check(Network.facebook, "").ok


def test_discord_files() -> None:
    f = MediaFacts("application/zip", 10 * 1024 * 1024)
    assert check(Network.discord, media=[f] * 10).ok
    assert not check(Network.discord, media=[f] * 11).ok
    over = MediaFacts("application/zip", 10 * 1024 * 1024 + 1)
    assert not check(Network.discord, media=[over]).ok
    assert check(Network.discord, media=[over], max_upload_size=50 * 1024 * 1024).ok


def test_threads_link_limit() -> None:
    five = " ".join(f"https://example.com/{i}" for i in range(5))
    assert check(Network.threads, five).ok
    assert errors(check(Network.threads, five, link="https://other.example.com")) == [
        "Threads allows 5 links per post; this copy has 6."
    ]


def test_sandbox_uses_its_limits() -> None:
    f = MediaFacts("image/png", 1)
    assert check(Network.sandbox, media=[f] * SANDBOX_LIMITS["max_media"]).ok
    assert not check(Network.sandbox, media=[f] * (SANDBOX_LIMITS["max_media"] + 1)).ok


def test_every_network_has_rules() -> None:
    for network in Network:
        c = check(network, "Hello", [JPEG])
        assert c.measure is not None and c.measure.network is network
        assert c.measure.count == 5 and c.measure.limit > 0
