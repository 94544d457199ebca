"""A variant's publishable content (inherited from its post) and its hash."""

from __future__ import annotations

from typing import Any

import pytest

from app.posts.content import PublishableContent, content_hash, effective_content

BASE: dict[str, Any] = {
    "base_text": "Our December newsletter is out",
    "base_media": [{"media_id": "m1", "alt": "A snowy street"}],
    "base_link": "https://example.org/newsletter",
}


def content(**kw: Any) -> PublishableContent:
    values: dict[str, Any] = {**BASE, "text": None, "media": None, "link": None, **kw}
    return effective_content(**values)


def test_a_variant_without_its_own_content_inherits_the_post() -> None:
    result = content()
    assert result.text == BASE["base_text"]
    assert result.media == tuple(BASE["base_media"])
    assert result.link == BASE["base_link"]


def test_a_variant_keeps_its_own_content() -> None:
    own_media = [{"media_id": "m2", "alt": "Another picture"}]
    result = content(text="Short copy for Bluesky", media=own_media, link="https://ex.org/b")
    assert result == PublishableContent(
        "Short copy for Bluesky",
        ({"media_id": "m2", "alt": "Another picture"},),
        "https://ex.org/b",
    )


def test_empty_text_and_media_of_its_own_are_not_inherited() -> None:
    """ "" is a choice (a media-only post), not "no text of its own"; [] means no media."""
    result = content(text="", media=[])
    assert result.text == ""
    assert result.media == ()
    assert result.link == BASE["base_link"]


def test_each_field_inherits_on_its_own() -> None:
    result = content(text="Own text")
    assert (result.text, result.media, result.link) == (
        "Own text",
        tuple(BASE["base_media"]),
        BASE["base_link"],
    )


def test_content_is_frozen_and_detached_from_the_lists_given() -> None:
    media = [{"media_id": "m1", "alt": "x"}]
    result = content(media=media)
    media.append({"media_id": "m3", "alt": "later"})
    assert len(result.media) == 1
    with pytest.raises(AttributeError):
        result.text = "changed"  # type: ignore[misc]


def test_hash_is_stable() -> None:
    first = content_hash(content())
    assert first == content_hash(content())
    assert len(first) == 64 and int(first, 16) >= 0
    # The same content reached two ways hashes the same.
    explicit = content(
        text=BASE["base_text"], media=list(BASE["base_media"]), link=BASE["base_link"]
    )
    assert content_hash(explicit) == first


@pytest.mark.parametrize(
    "change",
    [
        {"text": "Our December newsletter is out!"},
        {"text": ""},
        {"media": []},
        {"media": [{"media_id": "m1", "alt": "A snowy street at night"}]},
        {"media": [{"media_id": "m9", "alt": "A snowy street"}]},
        {"media": [{"media_id": "m1", "alt": "A snowy street"}] * 2},
        {"link": "https://example.org/newsletter?utm=1"},
    ],
    ids=["text", "empty-text", "no-media", "alt", "media-id", "media-count", "link"],
)
def test_hash_changes_with_the_content(change: dict[str, Any]) -> None:
    assert content_hash(content(**change)) != content_hash(content())


def test_hash_changes_when_the_link_goes() -> None:
    with_link = content_hash(effective_content(**{**BASE}, text=None, media=None, link=None))
    without = content_hash(
        effective_content(**{**BASE, "base_link": None}, text=None, media=None, link=None)
    )
    assert with_link != without


def test_media_order_matters() -> None:
    two = [{"media_id": "a", "alt": ""}, {"media_id": "b", "alt": ""}]
    assert content_hash(content(media=two)) != content_hash(content(media=two[::-1]))


def test_hash_does_not_depend_on_dict_key_order() -> None:
    one = content(media=[{"media_id": "m1", "alt": "Snow", "focus": {"x": 0.1, "y": 0.2}}])
    other = content(media=[{"focus": {"y": 0.2, "x": 0.1}, "alt": "Snow", "media_id": "m1"}])
    assert content_hash(one) == content_hash(other)


def test_hash_handles_non_ascii_text() -> None:
    assert content_hash(content(text="Noël ✨ 🎄")) != content_hash(content(text="Noel"))
    assert content_hash(content(text="Noël ✨ 🎄")) == content_hash(content(text="Noël ✨ 🎄"))
