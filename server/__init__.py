"""pixcept's read side: the Flask web app and JSON API (thin over `indexer`)."""
