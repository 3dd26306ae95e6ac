"""Papers and the daily feed: storage, rules, pages and API."""
