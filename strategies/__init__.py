"""Ready strategies. Copy one, change it, and point a config's ``strategy.class`` at your copy."""
