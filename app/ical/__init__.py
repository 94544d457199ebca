"""The iCal feed: a workspace's dated posts as a calendar a client subscribes to."""
