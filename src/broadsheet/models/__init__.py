"""All ORM tables, so the schema reads in one place."""

from broadsheet.models.base import Base
from broadsheet.models.community import ApiToken, Comment, LoginAttempt, User, UserSession, Vote
from broadsheet.models.digest import DigestDelivery, DigestRun, DigestSentPaper, DigestSubscription, OutboxEmail
from broadsheet.models.papers import DailyEntry, Paper, PaperEmbedding, PaperListing, PaperVersionRow

__all__ = [
    "ApiToken",
    "Base",
    "Comment",
    "DailyEntry",
    "DigestDelivery",
    "DigestRun",
    "DigestSentPaper",
    "DigestSubscription",
    "LoginAttempt",
    "OutboxEmail",
    "Paper",
    "PaperEmbedding",
    "PaperListing",
    "PaperVersionRow",
    "User",
    "UserSession",
    "Vote",
]
