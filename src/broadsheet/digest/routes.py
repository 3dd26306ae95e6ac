"""Subscribe box, confirm/unsubscribe/manage links and account settings; each page has a JSON twin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from broadsheet.digest import repository, service
from broadsheet.digest.outbox import flush_outbox
from broadsheet.digest.render import DigestMail
from broadsheet.errors import Unauthorized
from broadsheet.models import DigestSubscription
from broadsheet.web.deps import DbSession, render
from broadsheet.web.errors import wants_json

router = APIRouter(tags=["digest"])
Token = Annotated[str, Query(min_length=10, max_length=2000, description="The signed link token.")]


def _mail(request: Request) -> DigestMail:
    mail: DigestMail = request.app.state.digest_mail
    return mail


def respond(
    request: Request, template: str, context: dict[str, Any], *, outbox_ids: list[int] | None = None
) -> Response:
    """The page, or its JSON twin built from the same context; queued emails leave after the commit."""
    task = None
    if outbox_ids:
        task = BackgroundTask(
            flush_outbox, request.app.state.session_factory, request.app.state.digest_sender_factory, outbox_ids
        )
    if wants_json(request):
        return JSONResponse(context, background=task)
    response = render(request, template, context)
    response.background = task
    return response


Field = Annotated[str, Form()]


def preferences_form(
    frequency: Field = "daily",
    kind: Field = "trending",
    keywords: Field = "",
    categories: Field = "",
    saved_search: Field = "",
    max_papers: Field = "10",
) -> service.Preferences:
    """The digest preference fields shared by the subscribe box, the emailed manage page and account settings."""
    return service.parse_preferences(
        frequency=frequency,
        kind=kind,
        keywords=keywords,
        categories=categories,
        saved_search=saved_search,
        max_papers=max_papers or "10",
    )


PreferencesForm = Annotated[service.Preferences, Depends(preferences_form)]


@router.post("/digest/subscribe", summary="Ask for digests (double opt-in: a confirmation email is sent)")
def subscribe(
    request: Request,
    session: DbSession,
    email: Field,
    preferences: PreferencesForm,
) -> Response:
    ids = service.subscribe(session, _mail(request), email, preferences)
    # The same answer whether the address was new, pending or already subscribed.
    context = {
        "status": "check-your-inbox",
        "email": email.strip().lower(),
        "message": "If this address can receive digests, a confirmation link is on its way. "
        "Nothing is sent until you click it.",
    }
    return respond(request, "digest/check_inbox.html", context, outbox_ids=ids)


@router.get("/digest/confirm", summary="Confirm a subscription from the emailed link")
def confirm(request: Request, session: DbSession, token: Token) -> Response:
    subscription = service.confirm(session, _mail(request), token)
    return respond(request, "digest/confirmed.html", _subscription_context(request, subscription))


@router.get("/digest/unsubscribe", summary="The unsubscribe page (a button; a GET never unsubscribes)")
def unsubscribe_page(request: Request, session: DbSession, token: Token) -> Response:
    subscription = service.subscription_for_token(session, _mail(request), "unsubscribe", token)
    context = _linked_context(request, subscription, token, done=False)
    return respond(request, "digest/unsubscribe.html", context)


@router.post("/digest/unsubscribe", summary="Unsubscribe: RFC 8058 one-click POST, or the page's button")
def unsubscribe(request: Request, session: DbSession, token: Token) -> Response:
    subscription = service.unsubscribe(session, _mail(request), token)
    context = _linked_context(request, subscription, token, done=True)
    return respond(request, "digest/unsubscribe.html", context)


@router.get("/digest/manage", summary="Preferences from the emailed link")
def manage_page(request: Request, session: DbSession, token: Token) -> Response:
    subscription = service.subscription_for_token(session, _mail(request), "manage", token)
    context = _linked_context(request, subscription, token, saved=False)
    return respond(request, "digest/manage.html", context)


@router.post("/digest/manage", summary="Save preferences from the emailed link")
def manage(
    request: Request,
    session: DbSession,
    token: Token,
    preferences: PreferencesForm,
) -> Response:
    subscription = service.subscription_for_token(session, _mail(request), "manage", token)
    service.update_preferences(session, subscription, preferences, activate=True)
    context = _linked_context(request, subscription, token, saved=True)
    return respond(request, "digest/manage.html", context)


def _signed_in_user(request: Request) -> Any:
    from broadsheet.community.deps import resolve_viewer

    viewer = resolve_viewer(request)
    if viewer is None:
        raise Unauthorized("Sign in to manage digests from your account, or use the link in any digest email.")
    return viewer.user


@router.get("/settings/digest", summary="The signed-in user's digest preferences")
def account_page(request: Request, session: DbSession) -> Response:
    user = _signed_in_user(request)
    subscription = repository.subscription_of_user(session, user.id)
    return respond(request, "digest/account.html", _account_context(request, user, subscription, saved=False))


@router.post("/settings/digest", summary="Save the signed-in user's digest preferences")
def account_save(
    request: Request,
    session: DbSession,
    preferences: PreferencesForm,
    action: Field = "save",
) -> Response:
    user = _signed_in_user(request)
    subscription = repository.subscription_of_user(session, user.id)
    ids: list[int] = []
    if action == "unsubscribe" and subscription is not None:
        service.cancel(subscription)
    elif subscription is not None and subscription.status != "unsubscribed":
        service.update_preferences(session, subscription, preferences, activate=False)
    else:
        ids = service.subscribe(session, _mail(request), user.email, preferences, user_id=user.id)
        subscription = repository.subscription_of_user(session, user.id)
    context = _account_context(request, user, subscription, saved=True)
    return respond(request, "digest/account.html", context, outbox_ids=ids)


def _subscription_context(request: Request, subscription: DigestSubscription) -> dict[str, Any]:
    return {"subscription": service.subscription_json(subscription), "choices": service.choices()}


def _linked_context(request: Request, subscription: DigestSubscription, token: str, **flags: bool) -> dict[str, Any]:
    """A page reached by a signed link also links to its sibling pages (manage ↔ unsubscribe)."""
    tokens = _mail(request).tokens
    ids = (subscription.id, subscription.email, subscription.token_nonce)
    return {
        **_subscription_context(request, subscription),
        "token": token,
        "manage_token": tokens.make("manage", *ids),
        "unsubscribe_token": tokens.make("unsubscribe", *ids),
        **flags,
    }


def _account_context(
    request: Request, user: Any, subscription: DigestSubscription | None, *, saved: bool
) -> dict[str, Any]:
    if subscription is None:
        current: dict[str, Any] = {"email": user.email, "status": "none", **service.Preferences().as_json()}
    else:
        current = service.subscription_json(subscription)
    return {"subscription": current, "choices": service.choices(), "saved": saved}
