"""Instagram rules (Graph API content publishing, platforms.md §6).

Caption: 2,200 characters (code points), at most 30 hashtags and 20 @-tags (API
reference: errors); more than 5 hashtags is a warning (Instagram announced a 5-hashtag
cap in December 2025; whether the API enforces it is unconfirmed). Links in a caption
are not clickable: warning (as is a separate link, which Instagram cannot attach).
Media is required: JPEG images up to 8 MiB with an aspect ratio between 4:5 and
1.91:1, ``alt_text`` up to 1,000 characters (missing → warning); Reels MP4/MOV,
H.264 or HEVC, 3 s–15 min, up to 300 MB; a carousel holds 2–10 items.

Adapter (Instagram API with Facebook Login, ``graph.facebook.com/v25.0``): one media
container per item from ``MediaItem.public_url`` (Instagram downloads it), a CAROUSEL
container over the children when there are several, polled until FINISHED, then
``media_publish`` (:class:`app.networks.graph.ContainerAdapter`). Credentials::

    {"ig_user_id": "<Instagram professional account id>",
     "access_token": "<user or Page token with instagram_content_publish>",
     "page_id": "<the linked Facebook Page; set by Connect with Instagram>"}

"Connect with Instagram" (app.oauth.meta) stores the long-lived Facebook user token
(about 60 days) and its expiry; :meth:`InstagramAdapter.refresh_credentials` renews it.

Instagram has no take-down through the API (IG Media supports no DELETE): a post is
removed in the Instagram app.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.networks.base import (
    MediaItem,
    Metrics,
    Network,
    OAuthApp,
    PermanentError,
    PublishRequest,
    RefreshUnsupported,
)
from app.networks.counting import (
    MB,
    NAMES,
    MediaKind,
    MediaPolicy,
    check_media,
    error,
    hashtags,
    limit,
    measured,
    mentions,
    text_length,
    urls,
    warning,
)
from app.networks.graph import ContainerAdapter, token_exchange
from app.networks.http import whole_number
from app.networks.rules import Check, Level, MediaFacts, Verdict
from app.oauth.tokens import expiry

NETWORK = Network.instagram
MAX_CHARACTERS = 2200
MAX_HASHTAGS = 30
ADVISED_HASHTAGS = 5
MAX_MENTIONS = 20
MIN_RATIO, MAX_RATIO = 4 / 5, 1.91
MEDIA = MediaPolicy(
    kinds=(
        MediaKind("image", "images", frozenset({"image/jpeg"}), max_bytes=8 * MB, alt=True),
        MediaKind(
            "video",
            "videos",
            frozenset({"video/mp4", "video/quicktime"}),
            max_bytes=300 * MB,
            min_seconds=3,
            max_seconds=900,
            codecs=frozenset({"h264", "hevc"}),
        ),
    ),
    max_items=10,
    required=True,
    alt_missing=Level.warning,
    alt_max=1000,
    accepted="JPEG images and MP4 or MOV videos",
)


def _aspect(media: list[MediaFacts]) -> list[Verdict]:
    out = []
    for i, item in enumerate(media):
        if not item.mime_type.startswith("image/") or not item.width or not item.height:
            continue
        ratio = item.width / item.height
        if not MIN_RATIO - 1e-9 <= ratio <= MAX_RATIO + 1e-9:
            out.append(
                error(
                    NETWORK,
                    f"media[{i}]",
                    f"Instagram accepts images from 4:5 (0.8) to 1.91:1; media {i + 1} is "
                    f"{item.width}×{item.height} ({ratio:.2f}).",
                )
            )
    return out


def check(*, text: str, media: list[MediaFacts], link: str | None, limits: dict[str, Any]) -> Check:
    maximum = limit(limits, ("max_characters",), MAX_CHARACTERS)
    count = len(text)
    verdicts = text_length(NETWORK, count=count, maximum=maximum, unit="characters")
    tags = hashtags(text)
    max_tags = limit(limits, ("max_hashtags",), MAX_HASHTAGS)
    if len(tags) > max_tags:
        verdicts += text_length(NETWORK, count=len(tags), maximum=max_tags, unit="hashtags")
    elif len(tags) > ADVISED_HASHTAGS:
        verdicts.append(
            warning(
                NETWORK,
                "text",
                f"Instagram now advises at most {ADVISED_HASHTAGS} hashtags; "
                f"this copy has {len(tags)}.",
                len(tags),
                ADVISED_HASHTAGS,
            )
        )
    tagged = mentions(text)
    if len(tagged) > MAX_MENTIONS:
        verdicts += text_length(NETWORK, count=len(tagged), maximum=MAX_MENTIONS, unit="@-mentions")
    found = urls(text)
    if found:
        verdicts.append(
            warning(
                NETWORK,
                "text",
                f"{NAMES[NETWORK]} does not make links in a caption clickable; "
                f"this copy has {len(found)}.",
                len(found),
                0,
            )
        )
    if link:
        verdicts.append(
            warning(
                NETWORK,
                "link",
                "Instagram cannot attach a link to a post; this copy has 1, "
                "which will not be published.",
                1,
                0,
            )
        )
    verdicts += check_media(NETWORK, media, MEDIA)
    verdicts += _aspect(media)
    return measured(NETWORK, "characters", count, maximum, verdicts)


GRAPH_BASE = "https://graph.facebook.com"
GRAPH_VERSION = "v25.0"
MAX_CAROUSEL_ITEMS = 10


class InstagramAdapter(ContainerAdapter):
    network = NETWORK
    version = GRAPH_VERSION
    user_key = "ig_user_id"
    create_edge = "media"
    publish_edge = "media_publish"
    list_edge = "media"
    text_field = "caption"
    status_field = "status_code"
    error_field = "status"  # IG Container: a sentence naming the error code
    max_characters = MAX_CHARACTERS
    max_media = MAX_CAROUSEL_ITEMS

    def __init__(
        self,
        http: Any,
        *,
        api_base: str = GRAPH_BASE,
        oauth: OAuthApp | None = None,
        **polling: float,
    ) -> None:
        super().__init__(http, api_base=api_base, oauth=oauth, **polling)

    async def refresh_credentials(
        self, credentials: dict[str, Any]
    ) -> tuple[dict[str, Any], datetime | None]:
        """The long-lived Facebook user token that "Connect with Instagram" stores
        (app.oauth.meta), exchanged again with
        ``POST /oauth/access_token grant_type=fb_exchange_token`` and the Meta app's id
        and secret (Facebook Login "Long-Lived Access Tokens"; a form body, so no secret
        is in a URL). Whether Meta extends a still-valid long-lived token is
        unconfirmed: the answer's ``expires_in`` is taken as the truth, and a token Meta
        no longer renews expires, then the channel asks for a reconnect. An expired or
        revoked token is Graph code 190: CredentialsExpiredError. Instagram-Login
        tokens (``ig_refresh_token`` on graph.instagram.com) are not what Almanac
        stores, so that grant is not used."""
        _, token = self._credentials(credentials)
        app = self._oauth
        if app is None or not app.client_id or not app.client_secret:
            raise RefreshUnsupported(
                "Instagram tokens are renewed with the Meta app: set ALMANAC_META_APP_ID "
                "and ALMANAC_META_APP_SECRET, or connect the account again before it expires"
            )
        body = await token_exchange(
            self._http,
            "POST",
            f"{self._base}/oauth/access_token",
            network=self._name,
            settings_hint="ALMANAC_META_APP_ID and ALMANAC_META_APP_SECRET",
            data={
                "grant_type": "fb_exchange_token",
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "fb_exchange_token": token,
            },
        )
        return {**credentials, "access_token": body["access_token"]}, expiry(body.get("expires_in"))

    def check_request(self, request: PublishRequest) -> None:
        if not request.media:
            raise PermanentError(
                "Instagram cannot publish text alone: attach a picture or a video",
                field="media",
            )
        if len(request.media) > MAX_CAROUSEL_ITEMS:
            raise PermanentError(
                f"Instagram carousels hold at most {MAX_CAROUSEL_ITEMS} items; "
                f"this post has {len(request.media)}",
                field="media",
            )
        for item in request.media:
            self.public_url(item)

    def _item(self, item: MediaItem, *, child: bool) -> dict[str, str]:
        url = self.public_url(item)
        if item.mime_type.startswith("video/"):
            params = {"media_type": "VIDEO" if child else "REELS", "video_url": url}
        else:
            params = {"image_url": url}
            if item.alt:
                params["alt_text"] = item.alt
        if child:
            params["is_carousel_item"] = "true"
        return params

    def single_params(self, request: PublishRequest) -> dict[str, str]:
        params = self._item(request.media[0], child=False)
        if request.text:
            params["caption"] = request.text
        return params

    def child_params(self, item: MediaItem) -> dict[str, str]:
        return self._item(item, child=True)

    def carousel_params(self, request: PublishRequest, children: list[str]) -> dict[str, str]:
        params = {"media_type": "CAROUSEL", "children": ",".join(children)}
        if request.text:
            params["caption"] = request.text
        return params

    async def take_down(self, credentials: dict[str, Any], external_id: str) -> None:
        raise PermanentError(
            "Instagram's API cannot delete a post: remove it in the Instagram app, "
            "then mark the delivery as removed"
        )

    async def fetch_metrics(self, credentials: dict[str, Any], external_id: str) -> Metrics:
        _, token = self._credentials(credentials)
        body = await self._call(
            "GET", external_id, token, params={"fields": "like_count,comments_count"}
        )
        return Metrics(
            likes=whole_number(body.get("like_count")),
            replies=whole_number(body.get("comments_count")),
        )
