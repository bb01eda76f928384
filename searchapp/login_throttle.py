from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from searchapp import conf

USERNAME_LENGTH = AccessAttempt._meta.get_field("username").max_length


@dataclass(frozen=True, kw_only=True)
class LoginLimits:
    per_account: int
    per_address: int
    lockout: timedelta


def login_limits() -> LoginLimits:
    return LoginLimits(
        per_account=conf.LOGIN_FAILURES_PER_ACCOUNT.value(),
        per_address=conf.LOGIN_FAILURES_PER_ADDRESS.value(),
        lockout=timedelta(seconds=conf.LOGIN_LOCKOUT_SEC.value()),
    )


# django-axes reads its limit, cool-off and user name through these (AXES_FAILURE_LIMIT,
# AXES_COOLOFF_TIME, AXES_USERNAME_CALLABLE).
def account_failure_limit(request: HttpRequest, credentials: dict[str, Any] | None) -> int:
    return login_limits().per_account


def lockout_time(request: HttpRequest | None) -> timedelta:
    return login_limits().lockout


def attempted_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    # The sign-in form does not bound the name it passes on (its max_length only sizes the
    # input), and axes stores at most USERNAME_LENGTH characters: a longer one was a 500.
    name = (credentials or request.POST).get(get_user_model().USERNAME_FIELD)
    return name[:USERNAME_LENGTH] if name else name


class LoginThrottleHandler(AxesDatabaseHandler):  # type: ignore[misc]
    """django-axes' database handler with two limits where it has one: failed sign-ins to one
    account from one address, and (looser) to any accounts from one address. Either pauses
    signing in from that address only, so nobody can lock a user out from everywhere.
    A locked-out attempt is refused before any password is hashed (AxesStandaloneBackend)."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        limits = login_limits()
        failures: dict[str, int] = _recent_attempts(request).aggregate(
            address=Coalesce(Sum("failures_since_start"), 0),
            account=Coalesce(
                Sum(
                    "failures_since_start",
                    filter=Q(username=get_client_username(request, credentials)),
                ),
                0,
            ),
        )
        # Axes compares one count with its limit, the per-account one: a full address is full.
        address_full = failures["address"] >= limits.per_address
        return max(failures["account"], limits.per_account if address_full else 0)

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        # A success clears that account's failures from that address, not the address's: signing
        # in to one's own account must not reset the count of guesses at others.
        deleted: int
        deleted, _ = AccessAttempt.objects.filter(
            ip_address=request.axes_ip_address,  # type: ignore[attr-defined]
            username=get_client_username(request, credentials),
        ).delete()
        return deleted


def login_locked_until(request: HttpRequest, credentials: dict[str, Any] | None) -> datetime:
    """When signing in from this address (to this account) works again."""
    limits = login_limits()
    username = get_client_username(request, credentials)
    attempts = list(
        _recent_attempts(request).values_list("username", "attempt_time", "failures_since_start")
    )
    account = [(time, failures) for name, time, failures in attempts if name == username]
    address = [(time, failures) for _, time, failures in attempts]
    ends = [
        _unlocks_at(account, limit=limits.per_account, lockout=limits.lockout),
        _unlocks_at(address, limit=limits.per_address, lockout=limits.lockout),
    ]
    return max((end for end in ends if end is not None), default=timezone.now() + limits.lockout)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """The page for a refused sign-in (AXES_LOCKOUT_CALLABLE), on the site and in the admin."""
    until = login_locked_until(request, credentials)
    wait_sec = max(1, math.ceil((until - timezone.now()).total_seconds()))
    response = render(
        request,
        "registration/locked_out.html",
        {"until": until, "wait_minutes": math.ceil(wait_sec / 60)},
        status=429,
    )
    response["Retry-After"] = str(wait_sec)
    return response


def _recent_attempts(request: HttpRequest) -> QuerySet[AccessAttempt]:
    attempts: QuerySet[AccessAttempt] = AccessAttempt.objects.filter(
        ip_address=request.axes_ip_address,  # type: ignore[attr-defined]
        attempt_time__gte=get_cool_off_threshold(request),
    )
    return attempts


def _unlocks_at(
    attempts: list[tuple[datetime, int]], *, limit: int, lockout: timedelta
) -> datetime | None:
    # Axes counts an attempt row until its last failure is `lockout` old; the oldest go first.
    counted = sorted(attempts)
    unlocks_at = None
    while counted and sum(failures for _, failures in counted) >= limit:
        last_failure, _ = counted.pop(0)
        unlocks_at = last_failure + lockout
    return unlocks_at
