"""Instagram (Instagram API with Facebook Login, graph.facebook.com/v25.0) played on
127.0.0.1: media containers that download ``image_url`` from a local media host (JPEG
only), ``status_code`` polling, ``media_publish``, ``permalink``; no DELETE.

Sources: developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/
ig-user/media (container fields, carousel children with ``is_carousel_item``),
.../ig-user/media_publish (``creation_id`` → ``{"id"}``), IG Container reference
(``status_code``), Instagram "Error Codes" (9004/2207052 media download failed,
9007/2207027 not ready, 100/2207010 caption too long), rate limiting guide (80002,
BUC type ``instagram``).
"""

from __future__ import annotations

import httpx

from app.networks.base import MediaItem, Network
from app.networks.instagram import InstagramAdapter
from tests.contract.harness import ContractCase
from tests.contract.platforms._graph import ContainerPlatform, jpeg_of

TOKEN = "IGQVJ-instagram-user-token-secret"


class InstagramPlatform(ContainerPlatform):
    version = "v25.0"
    token = TOKEN
    account_id = "17841405822304914"
    throttle_code = 80002
    throttle_type = "instagram"
    validation_subcode = 2207010
    validation_message = "The caption is longer than 2200 characters."


def make_platform() -> InstagramPlatform:
    return InstagramPlatform()


def media_item(platform: InstagramPlatform, path: str, alt: str = "A cup of coffee") -> MediaItem:
    url = platform.media_host.publish_file(jpeg_of(path), "image/jpeg")
    return MediaItem(path=path, mime_type="image/jpeg", alt=alt, public_url=url)


def make_adapter(platform: InstagramPlatform, http: httpx.AsyncClient) -> InstagramAdapter:
    return InstagramAdapter(http, api_base=platform.url, poll_interval=0.01, max_wait=5)


def case(platform: InstagramPlatform) -> ContractCase:
    return ContractCase(
        network=Network.instagram,
        platform=platform,
        make_adapter=lambda http: make_adapter(platform, http),
        credentials={"ig_user_id": platform.account_id, "access_token": TOKEN},
        secrets=[TOKEN],
        handle=platform.username,
        media_mime_type="image/jpeg",
        supports_take_down=False,
        requires_media=True,
        media_item=lambda path: media_item(platform, path),
        notes="Text alone cannot be published: every request of the suite carries a picture.",
    )
