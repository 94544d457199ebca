"""Labels: a workspace's content pillars, each with a colour."""
