"""Digest and subscription emails: multipart text + HTML that looks like the site, with signed links."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from broadsheet.digest.selection import DigestPeriod
from broadsheet.digest.tokens import DigestTokens
from broadsheet.models import DigestSubscription
from broadsheet.settings import Settings
from broadsheet.web.app import shorten

TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates"


@dataclass(frozen=True)
class Recipient:
    """What an email needs of a subscription, detached from the database session."""

    id: int
    email: str
    nonce: str
    kind: str = "trending"
    frequency: str = "daily"
    query: str = ""
    categories: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, subscription: DigestSubscription) -> Recipient:
        from broadsheet.digest.selection import personal_query

        return cls(
            subscription.id,
            subscription.email,
            subscription.token_nonce,
            subscription.kind,
            subscription.frequency,
            personal_query(subscription),
            tuple(subscription.categories or ()),
        )


class DigestMail:
    """Builds every email Broadsheet sends about digests."""

    def __init__(self, settings: Settings, tokens: DigestTokens | None = None) -> None:
        self.settings = settings
        self.tokens = tokens or DigestTokens(settings.secret_key)
        self.base_url = settings.base_url.rstrip("/")
        self.domain = urlsplit(self.base_url).hostname or "localhost"
        self.env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["shorten"] = shorten
        self.env.globals.update(site_name=settings.site_name, base_url=self.base_url)
        # A paper's card is the same in every digest of a run: render it once.
        self._cards: dict[str, tuple[Markup, str]] = {}

    def cards(self, items: list[dict[str, Any]]) -> tuple[list[Markup], list[str]]:
        html_cards: list[Markup] = []
        text_cards: list[str] = []
        for item in items:
            key = item["paper"]["id"]
            card = self._cards.get(key)
            if card is None:
                html = Markup(self.env.get_template("email/_card.html").render(item=item))
                card = (html, self.env.get_template("email/_card.txt").render(item=item).rstrip() + "\n")
                self._cards[key] = card
            html_cards.append(card[0])
            text_cards.append(card[1])
        return html_cards, text_cards

    def link(self, path: str, **params: str) -> str:
        return f"{self.base_url}{path}" + (f"?{urlencode(params)}" if params else "")

    def links(self, recipient: Recipient) -> dict[str, str]:
        def token(purpose: Any) -> str:
            return self.tokens.make(purpose, recipient.id, recipient.email, recipient.nonce)

        return {
            "confirm": self.link("/digest/confirm", token=token("confirm")),
            "unsubscribe": self.link("/digest/unsubscribe", token=token("unsubscribe")),
            "manage": self.link("/digest/manage", token=token("manage")),
        }

    def _message(
        self, recipient: Recipient, subject: str, template: str, context: dict[str, Any], message_id: str | None
    ) -> EmailMessage:
        links = self.links(recipient)
        context = {**context, "links": links, "recipient": recipient}
        html_context, text_context = context, context
        if "items" in context:
            html_cards, text_cards = self.cards(context["items"])
            html_context, text_context = {**context, "cards": html_cards}, {**context, "cards": text_cards}
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = recipient.email
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = message_id or make_msgid(template, domain=self.domain)
        message["List-Id"] = f"{self.settings.site_name} digest <digest.{self.domain}>"
        # RFC 8058: mail clients POST "List-Unsubscribe=One-Click" to this URL, no cookie, no page.
        message["List-Unsubscribe"] = f"<{links['unsubscribe']}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(self.env.get_template(f"email/{template}.txt").render(text_context))
        message.add_alternative(self.env.get_template(f"email/{template}.html").render(html_context), subtype="html")
        return message

    def confirmation(self, recipient: Recipient) -> EmailMessage:
        subject = f"Confirm your {self.settings.site_name} digest subscription"
        return self._message(recipient, subject, "confirm", {"hours": self.settings.digest_confirm_hours}, None)

    def already_subscribed(self, recipient: Recipient) -> EmailMessage:
        subject = f"Your {self.settings.site_name} digest subscription"
        return self._message(recipient, subject, "already_subscribed", {}, None)

    def message_id(self, recipient: Recipient, period: DigestPeriod) -> str:
        """Deterministic, so a digest re-sent after a crash carries the same id and receivers can drop it."""
        return f"<digest.{recipient.id}.{period.key.replace(':', '.')}@{self.domain}>"

    def digest(
        self, recipient: Recipient, period: DigestPeriod, items: list[dict[str, Any]], message_id: str
    ) -> EmailMessage:
        what = "Your papers" if recipient.kind == "personal" else "Trending papers"
        subject = f"{what} · {period.label} · {self.settings.site_name}"
        context = {"period": period, "items": items, "what": what}
        message = self._message(recipient, subject, "digest", context, message_id)
        message["X-Broadsheet-Digest"] = f"{recipient.id}/{period.key}"
        message["Precedence"] = "bulk"
        return message
