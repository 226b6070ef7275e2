"""GET /users/ and /users/<id>/: filters, pagination with Link headers, JSON errors."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from tests.factories import user_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def five_users():
    for number, name in enumerate(["Alice Smith", "Bob Jones", "Zoë Ångström", "Dan", "Eve"], 1):
        user_create(user_id=str(number), name=name)


def ids(response) -> list[str]:
    return [user["user_id"] for user in response.json()]


def links(response) -> dict[str, str]:
    """The Link header as {rel: url}."""
    found = {}
    for part in filter(None, response.get("Link", "").split(", ")):
        url, rel = part.split("; ")
        found[rel.removeprefix('rel="').removesuffix('"')] = url.strip("<>")
    return found


def test_the_list_is_a_plain_array_of_csv_shaped_users(client, five_users):
    response = client.get("/users/")

    assert response.status_code == 200
    assert ids(response) == ["1", "2", "3", "4", "5"]
    assert set(response.json()[0]) == {
        "user_id",
        "name",
        "email",
        "signup_date",
        "age",
        "height_cm",
        "weight_kg",
        "activity_level",
        "health_goals",
    }
    assert response["X-Total-Count"] == "5"


def test_name_filters_by_case_insensitive_substring(client, five_users):
    assert ids(client.get("/users/", {"name": "ALI"})) == ["1"]
    assert ids(client.get("/users/", {"name": "ZOË"})) == ["3"]


def test_id_filters_by_exact_match(client, five_users):
    assert ids(client.get("/users/", {"id": "2"})) == ["2"]
    assert ids(client.get("/users/", {"id": "02"})) == []


def test_no_match_is_an_empty_array(client, five_users):
    response = client.get("/users/", {"name": "nobody"})

    assert (response.status_code, response.json(), response.get("Link")) == (200, [], None)


def test_the_first_page_links_to_the_next_keeping_the_other_parameters(client, five_users):
    response = client.get("/users/", {"page_size": "2", "name": "e"})

    assert ids(response) == ["1", "2", "5"][:2]
    assert links(response) == {
        "next": "http://testserver/users/?page_size=2&name=e&page=2",
    }


def test_a_middle_page_links_both_ways(client, five_users):
    response = client.get("/users/", {"page": "2", "page_size": "2"})

    assert ids(response) == ["3", "4"]
    assert links(response) == {
        "next": "http://testserver/users/?page=3&page_size=2",
        "prev": "http://testserver/users/?page=1&page_size=2",
    }


def test_the_last_page_links_back_only(client, five_users):
    response = client.get("/users/", {"page": "3", "page_size": "2"})

    assert ids(response) == ["5"]
    assert set(links(response)) == {"prev"}


@override_settings(USERS_PAGE_SIZE=3)
def test_the_default_page_size_comes_from_settings(client, five_users):
    assert ids(client.get("/users/")) == ["1", "2", "3"]


@override_settings(USERS_MAX_PAGE_SIZE=4)
def test_the_maximum_page_size_is_enforced(client, five_users):
    response = client.get("/users/", {"page_size": "5"})

    assert response.status_code == 400
    assert response.json() == {"error": "page_size must be at most 4"}


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"page": "abc"}, "page must be a whole number, got 'abc'"),
        ({"page": "1.5"}, "page must be a whole number, got '1.5'"),
        ({"page": "0"}, "page must be at least 1, got 0"),
        ({"page": "-1"}, "page must be at least 1, got -1"),
        ({"page_size": "x"}, "page_size must be a whole number, got 'x'"),
        ({"page_size": "0"}, "page_size must be at least 1, got 0"),
        ({"page": "4", "page_size": "2"}, "page 4 is beyond the last page (3)"),
    ],
)
def test_a_bad_page_is_a_400_with_a_json_error(client, five_users, query, error):
    response = client.get("/users/", query)

    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_a_later_page_of_an_empty_result_is_an_empty_array(client):
    response = client.get("/users/", {"page": "2"})

    assert (response.status_code, response.json()) == (200, [])


def test_one_user_by_id(client, five_users):
    response = client.get("/users/3/")

    assert response.status_code == 200
    assert response.json()["name"] == "Zoë Ångström"


def test_an_unknown_user_is_a_404_with_a_json_error(client, five_users):
    response = client.get("/users/42/")

    assert response.status_code == 404
    assert response.json() == {"error": "user '42' not found"}


@pytest.mark.parametrize("url", ["/users/", "/users/1/"])
def test_only_get_is_allowed(client, five_users, url):
    assert client.post(url).status_code == 405


@pytest.mark.parametrize("parameter", ["id", "name"])
def test_a_nul_character_in_a_filter_is_a_400_without_a_query(
    client, five_users, parameter, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get("/users/", {parameter: "a\x00b"})

    assert response.status_code == 400
    assert response.json() == {"error": f"{parameter} must not contain a NUL character"}


def test_a_nul_character_in_the_detail_url_is_a_404_without_a_query(
    client, five_users, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get("/users/%00/")

    assert response.status_code == 404
    assert response.json() == {"error": "user '\\x00' not found"}


def test_a_user_id_containing_a_slash_is_found(client):
    user_create(user_id="a/b", name="Slashed")

    assert reverse("accounts:user-detail", args=["a/b"]) == "/users/a/b/"
    response = client.get("/users/a/b/")

    assert (response.status_code, response.json()["name"]) == (200, "Slashed")
    assert client.get("/users/a/").status_code == 404


def test_an_empty_id_matches_the_empty_id_only(client, five_users):
    response = client.get("/users/", {"id": ""})

    assert (response.status_code, response.json(), response["X-Total-Count"]) == (200, [], "0")
