"""The admin login is throttled against brute force (django-axes): a username and address pair locks out."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "operator", password="right-password", is_staff=True
    )


def login(client: Client, password: str, **extra):
    return client.post(
        "/admin/login/?next=/admin/", {"username": "operator", "password": password}, **extra
    )


def test_five_failures_lock_the_pair_out_even_with_the_right_password(staff, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "wrong").status_code == 200  # the form again, with its error

    assert login(client, "wrong").status_code == 429
    assert login(client, "right-password").status_code == 429


def test_another_address_is_not_locked_out_by_the_first(staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(Client(), "wrong", REMOTE_ADDR="203.0.113.9")

    assert login(Client(), "right-password", REMOTE_ADDR="203.0.113.10").status_code == 302


def test_a_success_before_the_limit_resets_the_count(staff, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "wrong")
    assert login(client, "right-password").status_code == 302
    client.logout()

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "wrong").status_code == 200


def test_behind_the_proxy_the_client_address_is_the_proxys_last_forwarded_entry(staff, settings):
    settings.BEHIND_PROXY = True
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(Client(), "wrong", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9")

    # Same proxy (REMOTE_ADDR), another client: not locked out; a forged first entry changes nothing.
    assert login(Client(), "right-password", HTTP_X_FORWARDED_FOR="203.0.113.10").status_code == 302
    locked = login(Client(), "right-password", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    assert locked.status_code == 429
