"""Media: uploads sniffed, measured and stored by content, served to members and
by signed, expiring public links (for networks that fetch media by URL)."""

from app.media.service import media_in_workspace, signed_media_url, verify_media_signature

__all__ = ["media_in_workspace", "signed_media_url", "verify_media_signature"]
