"""The web console's page and static assets."""
