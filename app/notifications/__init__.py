"""In-app notifications and outgoing webhooks."""
