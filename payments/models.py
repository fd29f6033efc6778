"""payments: models arrive with the app's own issue."""
