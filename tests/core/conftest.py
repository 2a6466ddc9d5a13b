import importlib

import pytest
from django.urls import clear_url_caches


@pytest.fixture
def api_urls_afresh():
    """The site's URL patterns built again for this test, and `core.api.urls()` with them.

    Django builds them once, when config.urls is first imported, and keeps them. `make mutation`'s runs
    fork from a process that has imported it, so a changed `core.api.urls` would never run there (all of
    its mutants "survived" that way). The tests of what it decides (the JSON 404 and 405, who may read
    the document, the docs page's login) take this fixture.
    """
    import config.urls

    importlib.reload(config.urls)
    clear_url_caches()
    yield
    clear_url_caches()
