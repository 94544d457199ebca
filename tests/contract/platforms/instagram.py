"""Instagram (Instagram API with Facebook Login, graph.facebook.com/v25.0) played on
127.0.0.1: media containers that download ``image_url`` from a local media host (JPEG
only), ``status_code`` polling, ``media_publish``, ``permalink``; no DELETE.

Sources: developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/
ig-user/media (container fields, carousel children with ``is_carousel_item``),
.../ig-user/media_publish (``creation_id`` → ``{"id"}``), IG Container reference
(``status_code``), Instagram "Error Codes" (9004/2207052 media download failed,
9007/2207027 not ready, 100/2207010 caption too long), rate limiting guide (80002,
BUC type ``instagram``). Its token is the long-lived Facebook user token "Connect with
Instagram" stores, renewed at ``POST /v25.0/oauth/access_token``
(``grant_type=fb_exchange_token``, Facebook Login "Long-Lived Access Tokens").
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import Response

from app.networks.base import MediaItem, Network, OAuthApp
from app.networks.instagram import InstagramAdapter
from tests.contract.harness import ContractCase
from tests.contract.platforms._graph import (
    META_APP_ID,
    META_APP_SECRET,
    ContainerPlatform,
    MetaTokens,
    form_of,
    graph_error,
    jpeg_of,
)

TOKEN = "IGQVJ-instagram-user-token-secret"


class InstagramPlatform(ContainerPlatform):
    version = "v25.0"
    token = TOKEN
    account_id = "17841405822304914"
    throttle_code = 80002
    throttle_type = "instagram"
    validation_subcode = 2207010
    validation_message = "The caption is longer than 2200 characters."

    def __init__(self) -> None:
        super().__init__()
        self.login = MetaTokens()
        self.login.long_lived[TOKEN] = "the account's person"

        @self.app.post("/{version}/oauth/access_token")
        async def access_token(version: str, request: Request) -> Response:
            if version != self.version:
                return graph_error(400, f"Unknown path components: /{version}", code=2500)
            return self.login.answer(await form_of(request))

        # Ahead of the generic "/{version}/{object_id}/{edge}" routes.
        self.app.router.routes.insert(0, self.app.router.routes.pop())

    def auth_error(self, request: Request, form: dict[str, Any] | None = None) -> Response | None:
        """The long-lived user tokens Meta issued (the one the suite starts with too)."""
        token = self.token_of(request, form)
        if token is not None and token in self.login.long_lived:
            return None
        return super().auth_error(request, form)

    def oauth_app(self) -> OAuthApp:
        """The Meta app as this server's settings would build it."""
        return OAuthApp(
            client_id=META_APP_ID,
            client_secret=META_APP_SECRET,
            token_url=f"{self.url}/v25.0/oauth/access_token",
            api_base=self.url,
            client_auth="body",
        )

    def reset(self) -> None:
        super().reset()
        self.login.reset()
        self.login.long_lived[TOKEN] = "the account's person"


def make_platform() -> InstagramPlatform:
    return InstagramPlatform()


def media_item(platform: InstagramPlatform, path: str, alt: str = "A cup of coffee") -> MediaItem:
    url = platform.media_host.publish_file(jpeg_of(path), "image/jpeg")
    return MediaItem(path=path, mime_type="image/jpeg", alt=alt, public_url=url)


def make_adapter(platform: InstagramPlatform, http: httpx.AsyncClient) -> InstagramAdapter:
    return InstagramAdapter(
        http, oauth=platform.oauth_app(), api_base=platform.url, poll_interval=0.01, max_wait=5
    )


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
