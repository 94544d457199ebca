"""Deliveries: the publishing side of a post (actions, lists, waking the scheduler)."""
