"""The site's own answers outside the apps: what Django refuses before any view runs."""

import pytest

pytestmark = pytest.mark.django_db


def test_the_api_answers_a_host_it_does_not_serve_in_json(client):
    response = client.get("/api/schedules", HTTP_HOST="&pF")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"errors": {"__all__": [
        "The Host header names a server this one does not answer for (ALLOWED_HOSTS)."]}}


def test_a_page_answers_a_host_it_does_not_serve_as_django_does(client):
    response = client.get("/schedules", HTTP_HOST="&pF")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
