"""The scheduler process: APScheduler is the clock, the database is the queue.

``scheduler`` imports ``app``; ``app`` never imports ``scheduler``.
"""
