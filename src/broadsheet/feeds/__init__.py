"""RSS 2.0, Atom and JSON Feed twins of the daily feed, trending, categories and searches."""
