"""Tests for the paper sources (arXiv API, OAI-PMH, snapshot, daily JSONL, Hugging Face daily)."""
