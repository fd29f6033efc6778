"""Originals and renditions are served as what their bytes are, never as their names say."""

import io

import pytest
from django.urls import reverse
from PIL import Image as PILImage

from images import services
from tests.helpers.factories import picture, upload
from tests.images.test_imaging import mpo, rotated_jpeg

pytestmark = pytest.mark.django_db


def test_a_gif_named_html_is_served_as_a_gif(client, user, media):
    # given: a GIF with HTML after the image data, uploaded as x.html (and text/html)
    data = picture("P", (40, 30), "GIF") + b"<html><script>alert(document.cookie)</script></html>"
    [image], _ = services.images_upload(
        owner=user, uploads=[upload(data, name="x.html", content_type="text/html")]
    )
    client.force_login(user)

    # when
    response = client.get(reverse("images:original-file", args=[image.pk]))

    # then: stored and served as the GIF it is; the name only keeps its stem
    assert image.format == "GIF"
    assert image.original.name.endswith(".gif")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response["Content-Disposition"] == 'attachment; filename="x.gif"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == data


def test_an_mpo_photo_is_accepted_as_a_jpeg(client, user, media):
    [image], _ = services.images_upload(owner=user, uploads=[upload(mpo(), name="phone.jpg")])
    client.force_login(user)

    response = client.get(reverse("images:original-file", args=[image.pk]))

    assert (image.format, image.width, image.height) == ("JPEG", 640, 480)
    assert image.original.name.endswith(".jpg")
    assert response["Content-Type"] == "image/jpeg"


def test_an_exif_rotated_photo_is_stored_with_its_upright_size(user, media):
    [image], _ = services.images_upload(owner=user, uploads=[upload(rotated_jpeg())])

    image.refresh_from_db()
    assert (image.width, image.height) == (480, 640)

    # and its renditions are upright too
    services.image_process(image_id=image.pk)
    display = image.renditions.get(spec="display")
    with PILImage.open(io.BytesIO(media.read(display.file.name))) as stored:
        assert stored.size == (display.width, display.height) == (450, 600)
