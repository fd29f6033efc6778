import pytest


@pytest.fixture(autouse=True)
def _isolated_media(media):
    """Every image test writes its files apart from every other test's."""
    return media
