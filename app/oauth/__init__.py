"""Connecting accounts with OAuth 2.0 (authorization code + PKCE) and renewing their
tokens. ``tokens`` is the token-endpoint client the network adapters share; the
connect flow is in ``service`` (rules) and ``api`` (routes)."""
