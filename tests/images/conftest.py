import pytest


@pytest.fixture(autouse=True)
def _isolated_media(media_root):
    """Every image test writes its files under its own temporary folder."""
    return media_root
