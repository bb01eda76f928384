from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import MD5PasswordHasher
from django.db.models import F
from django.http import HttpResponse
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-password-1"
LOGIN_PATHS = ["/accounts/login/", "/admin/login/"]


class CountingHasher(MD5PasswordHasher):
    """A fast hasher that counts how often a password was hashed."""

    algorithm = "counting_md5"
    calls = 0

    def encode(self, password: str, salt: str) -> str:
        CountingHasher.calls += 1
        return super().encode(password, salt)


@pytest.fixture(autouse=True)
def _limits(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_FAILURES_PER_ADDRESS = 5
    settings.LOGIN_LOCKOUT_SEC = 600


@pytest.fixture
def staff(django_user_model):  # type: ignore[no-untyped-def]
    return django_user_model.objects.create_superuser("curator", "c@example.com", PASSWORD)


def sign_in(
    path: str, username: str, password: str, *, address: str = "10.0.0.1", **headers: str
) -> HttpResponse:
    client = Client()
    return client.post(
        path,
        {"username": username, "password": password, "next": "/"},
        REMOTE_ADDR=address,
        headers=headers,
    )


def signed_in(response: HttpResponse) -> bool:
    return response.status_code == 302 and "sessionid" in response.cookies


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_wrong_passwords_pause_the_account_even_for_the_right_one(staff, path: str) -> None:  # type: ignore[no-untyped-def]
    attempts = [sign_in(path, "curator", f"guess-{number}") for number in range(3)]
    right = sign_in(path, "curator", PASSWORD)

    assert [response.status_code for response in attempts] == [200, 200, 429]
    assert right.status_code == 429
    assert not signed_in(right)


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_a_paused_sign_in_hashes_no_password(staff, path: str) -> None:  # type: ignore[no-untyped-def]
    for number in range(3):
        sign_in(path, "curator", f"guess-{number}")
    CountingHasher.calls = 0

    sign_in(path, "curator", PASSWORD)
    sign_in(path, "curator", "another-guess")

    assert CountingHasher.calls == 0


def test_the_pause_page_says_when_to_try_again(staff) -> None:  # type: ignore[no-untyped-def]
    for number in range(3):
        sign_in("/accounts/login/", "curator", f"guess-{number}")
    last_failure = AccessAttempt.objects.get().attempt_time

    response = sign_in("/accounts/login/", "curator", PASSWORD)

    page = response.content.decode()
    assert response.status_code == 429
    assert 590 <= int(response["Retry-After"]) <= 600
    assert f"Try again after {last_failure + timedelta(seconds=600):%H:%M} UTC" in page
    assert "in about 10 minutes" in page
    assert "<h1>Sign-in paused</h1>" in page


def test_the_pause_ends_after_the_lockout_time(staff) -> None:  # type: ignore[no-untyped-def]
    for number in range(3):
        sign_in("/accounts/login/", "curator", f"guess-{number}")
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(seconds=601))

    assert signed_in(sign_in("/accounts/login/", "curator", PASSWORD))


def test_a_paused_account_can_still_sign_in_from_elsewhere(staff) -> None:  # type: ignore[no-untyped-def]
    for number in range(3):
        sign_in("/admin/login/", "curator", f"guess-{number}", address="203.0.113.9")

    assert signed_in(sign_in("/admin/login/", "curator", PASSWORD, address="10.0.0.1"))
    assert signed_in(sign_in("/accounts/login/", "curator", PASSWORD, address="10.0.0.1"))


def test_an_address_guessing_at_many_accounts_is_paused_for_all(staff) -> None:  # type: ignore[no-untyped-def]
    for name in ["ann", "bob", "cyd", "dee", "eve"]:
        sign_in("/accounts/login/", name, "guess")
    CountingHasher.calls = 0

    assert sign_in("/accounts/login/", "curator", PASSWORD).status_code == 429
    assert sign_in("/accounts/login/", "fay", "guess").status_code == 429
    assert CountingHasher.calls == 0
    assert signed_in(sign_in("/accounts/login/", "curator", PASSWORD, address="10.0.0.2"))


def test_signing_in_clears_the_accounts_failures_from_that_address_only(staff) -> None:  # type: ignore[no-untyped-def]
    sign_in("/accounts/login/", "ann", "guess")
    sign_in("/accounts/login/", "bob", "guess")
    sign_in("/accounts/login/", "curator", "typo")

    assert signed_in(sign_in("/accounts/login/", "curator", PASSWORD))
    assert sorted(AccessAttempt.objects.values_list("username", flat=True)) == ["ann", "bob"]


def test_behind_a_trusted_proxy_the_forwarded_address_is_paused(staff, settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXY_COUNT = 1
    # The client makes up the left part; the proxy appends the address it saw.
    for number in range(3):
        forwarded = f"198.51.100.{number}, 203.0.113.9"
        sign_in(
            "/accounts/login/", "curator", "guess", address="10.0.0.1", x_forwarded_for=forwarded
        )

    paused = sign_in("/accounts/login/", "curator", PASSWORD, x_forwarded_for="203.0.113.9")
    elsewhere = sign_in("/accounts/login/", "curator", PASSWORD, x_forwarded_for="203.0.113.10")

    assert paused.status_code == 429
    assert signed_in(elsewhere)


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_a_user_name_longer_than_any_is_a_failed_sign_in(path: str) -> None:
    response = sign_in(path, "x" * 300, "guess")

    assert response.status_code == 200
    assert AccessAttempt.objects.get().username == "x" * 255
