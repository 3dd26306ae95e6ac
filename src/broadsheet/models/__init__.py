"""All ORM tables, so the schema reads in one place."""

from broadsheet.models.base import Base
from broadsheet.models.papers import DailyEntry, Paper, PaperEmbedding, PaperVersionRow

__all__ = ["Base", "DailyEntry", "Paper", "PaperEmbedding", "PaperVersionRow"]
