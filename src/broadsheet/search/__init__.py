"""Hybrid paper search: BM25 keyword scoring, MiniLM embeddings, vector index and fusion."""
