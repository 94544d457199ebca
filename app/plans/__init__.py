"""Plans: a month or a quarter of a workspace, with themes, cadence and mix targets."""
