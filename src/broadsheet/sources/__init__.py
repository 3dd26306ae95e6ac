"""Sources of paper metadata: arXiv (API, OAI-PMH, snapshot, daily JSONL) and Hugging Face daily papers."""
