"""Uploads through the service, the page and the API: what is accepted, what is refused."""

from datetime import timedelta

import pytest
from django.urls import reverse

from images import services
from images.models import Image, ImageBatch
from mysite.enqueue import QUEUE_DOWN_MESSAGE
from mysite.sweep import sweep
from tests.helpers.factories import picture, upload
from tests.helpers.services import wait_for

pytestmark = pytest.mark.django_db


def test_upload_stores_the_original_under_a_generated_name(user, media):
    # when
    [image], batch = services.images_upload(
        owner=user, uploads=[upload(picture(), name="../../etc/passwd.jpg")]
    )

    # then
    assert batch is None
    assert image.status == Image.Status.PENDING
    assert image.original_name == "passwd.jpg"
    assert (image.format, image.width, image.height) == ("JPEG", 640, 480)
    assert image.original.name.startswith("images/originals/")
    assert ".." not in image.original.name
    assert "passwd" not in image.original.name
    assert media.names() == [image.original.name]
    assert image.task_id


def test_format_comes_from_the_content_not_the_name(user):
    [image], _ = services.images_upload(
        owner=user, uploads=[upload(picture(image_format="PNG"), name="photo.jpg")]
    )

    assert image.format == "PNG"
    assert image.original.name.endswith(".png")


def test_several_files_become_one_batch(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        _, batch = services.images_upload(
            owner=user, uploads=[upload(picture()), upload(picture(), name="b.jpg")]
        )

    assert batch.total == 2
    assert {image.batch_id for image in Image.objects.all()} == {batch.pk}
    assert len(callbacks) == 1  # one chord, published after the commit


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "empty.jpg", "empty.jpg: The file is empty."),
        (b"hello, I am text\n" * 50, "notes.jpg", "notes.jpg: The file is not an image"),
        (picture()[:3000], "cut.jpg", "cut.jpg: The image is damaged or incomplete"),
        (picture(image_format="PNG")[:500], "cut.png", "cut.png: The image is damaged"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo.svg", "logo.svg: The file is not an"),
        (b"%PDF-1.4\n%%EOF\n", "paper.pdf", "paper.pdf: The file is not an image"),
        (picture(image_format="BMP"), "old.bmp", "old.bmp: BMP images are not accepted"),
    ],
)
def test_bad_files_are_refused_and_leave_nothing(user, media, data, name, message):
    with pytest.raises(services.ImageRejected) as refused:
        services.images_upload(owner=user, uploads=[upload(data, name=name)])

    assert str(refused.value).startswith(message)
    assert Image.objects.count() == 0
    assert media.names() == []


def test_one_bad_file_refuses_the_whole_upload(user, media):
    with pytest.raises(services.ImageRejected, match=r"bad\.jpg: "):
        services.images_upload(
            owner=user, uploads=[upload(picture()), upload(b"nope", name="bad.jpg")]
        )

    assert Image.objects.count() == 0
    assert media.names() == []


def test_every_bad_file_is_named_not_only_the_first(user, media):
    with pytest.raises(services.ImageRejected) as refused:
        services.images_upload(
            owner=user,
            uploads=[
                upload(b"", name="empty.jpg"),
                upload(picture()),
                upload(picture()[:-5], name="cut.jpg"),
            ],
        )

    assert refused.value.reasons == [
        "empty.jpg: The file is empty.",
        "cut.jpg: The image is damaged or incomplete; save or export it again and retry.",
    ]
    assert str(refused.value) == " ".join(refused.value.reasons)
    assert Image.objects.count() == 0
    assert media.names() == []


def test_too_large_and_too_many_pixels_are_refused(user, settings, media):
    settings.IMAGE_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(services.ImageRejected, match="larger than"):
        services.images_upload(owner=user, uploads=[upload(picture())])

    settings.IMAGE_MAX_UPLOAD_BYTES = 10_000_000
    settings.IMAGE_MAX_PIXELS = 100_000
    with pytest.raises(services.ImageRejected, match="640x480 pixels; at most 100,000"):
        services.images_upload(owner=user, uploads=[upload(picture())])

    assert media.names() == []


def test_upload_page_shows_the_reason(client, user):
    client.force_login(user)

    response = client.post(reverse("images:upload"), {"files": [upload(b"text", name="x.jpg")]})

    assert response.status_code == 400
    assert "x.jpg: The file is not an image" in response.content.decode()
    assert Image.objects.count() == 0


def test_upload_page_lists_every_bad_file_by_name(client, user):
    client.force_login(user)
    files = [
        upload(picture(), name="good.jpg"),
        upload(b"", name="empty.jpg"),
        upload(b"text", name="notes.jpg"),
    ]

    response = client.post(reverse("images:upload"), {"files": files})

    assert response.status_code == 400
    assert response.context["form"].errors["files"] == [
        "empty.jpg: The file is empty.",
        "notes.jpg: The file is not an image in a format we can read.",
    ]
    assert Image.objects.count() == 0  # one bad file still refuses the whole upload


def test_upload_page_without_files_is_a_form_error(client, user):
    client.force_login(user)

    response = client.post(reverse("images:upload"), {})

    assert response.status_code == 400
    assert "Choose at least one image." in response.content.decode()


UPLOAD_URL = "/api/v1/images/"


def test_api_upload_answers_202_with_a_status_url(client, user):
    client.force_login(user)

    response = client.post(reverse("api-v1:image-upload"), {"file": upload(picture())})

    assert response.status_code == 202
    body = response.json()
    image = Image.objects.get()
    assert reverse("api-v1:image-upload") == UPLOAD_URL
    assert body["batch"] is None
    [created] = body["images"]
    assert {key: created[key] for key in ("id", "status", "status_url", "task_id")} == {
        "id": image.pk,
        "status": "pending",
        "status_url": f"/api/v1/images/{image.pk}",
        "task_id": image.task_id,
    }


def test_api_upload_of_several_is_one_batch(client, user):
    client.force_login(user)

    response = client.post(UPLOAD_URL, {"file": [upload(picture()), upload(picture(), "b.jpg")]})

    assert response.status_code == 202
    body = response.json()
    assert len(body["images"]) == 2
    assert body["batch"] == {
        "id": ImageBatch.objects.get().pk,
        "total": 2,
        "done": 0,
        "failed": 0,
        "finished": False,
    }
    batch = client.get(reverse("api-v1:batch-get", args=[body["batch"]["id"]]))
    assert batch.json() == body["batch"]


@pytest.mark.parametrize(
    ("files", "status", "error"),
    [
        ({}, 400, "Invalid input: file."),
        ({"files": upload(picture())}, 400, "Invalid input: file."),
        ({"file": [upload(picture())] * 3}, 400, "3 files: at most 2 are accepted at once."),
        ({"file": upload(b"GIF89a broken")}, 415, "photo.jpg: The file is not an image"),
        ({"file": upload(picture(image_format="BMP"))}, 415, "BMP images are not accepted"),
        ({"file": upload(picture()[:3000])}, 400, "photo.jpg: The image is damaged"),
        (
            {"file": [upload(b"", name="a.jpg"), upload(b"text", name="b.jpg")]},
            400,
            "a.jpg: The file is empty. b.jpg: The file is not an image",
        ),
        ({"file": upload(picture("1", (3000, 2000), "PNG"))}, 413, "at most 5,000,000 pixels"),
        (
            {"file": upload(b"x" * (1024 * 1024 + 1))},
            413,
            "photo.jpg: the file is larger than 1 MiB",
        ),
    ],
)
def test_api_upload_refuses_bad_requests_and_keeps_nothing(
    client, user, media, settings, files, status, error
):
    settings.IMAGE_MAX_FILES = 2
    settings.IMAGE_MAX_UPLOAD_BYTES = 1024 * 1024
    settings.IMAGE_MAX_PIXELS = 5_000_000
    client.force_login(user)

    response = client.post(UPLOAD_URL, files)

    assert response.status_code == status
    assert error in response.json()["error"]["message"]
    assert Image.objects.count() == 0
    assert media.names() == []


def test_api_needs_a_token_or_a_session(client):
    assert client.post(UPLOAD_URL).status_code == 401
    assert client.get(UPLOAD_URL).status_code == 401
    assert client.get(reverse("api-v1:image-get", args=[1])).status_code == 401
    assert client.delete(reverse("api-v1:image-get", args=[1])).status_code == 401


def test_another_users_image_is_404_everywhere(client, user, other_user):
    [image], _ = services.images_upload(owner=user, uploads=[upload(picture())])
    client.force_login(other_user)

    assert client.get(reverse("images:detail", args=[image.pk])).status_code == 404
    assert client.get(reverse("images:original-file", args=[image.pk])).status_code == 404
    api = client.get(reverse("api-v1:image-get", args=[image.pk]))
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"
    assert client.delete(reverse("api-v1:image-delete", args=[image.pk])).status_code == 404
    assert client.get(UPLOAD_URL).json()["items"] == []
    batch = client.get(reverse("api-v1:batch-get", args=[image.batch_id or 1]))
    assert batch.status_code == 404
    assert Image.objects.filter(pk=image.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_an_upload_while_the_broker_is_down_is_kept_and_the_sweep_starts_it(
    client, user, broker_down, media, celery_worker, settings
):
    # given
    client.force_login(user)

    # when: the broker is down as the photo comes in
    response = client.post(UPLOAD_URL, {"file": upload(picture())})

    # then: saved, and the answer says it starts later
    assert response.status_code == 202
    assert response.json()["queue"] == QUEUE_DOWN_MESSAGE
    image = Image.objects.get()
    assert image.status == "pending"
    assert media.names() == [image.original.name]

    # when: the broker is back and the sweep runs
    broker_down.end()
    settings.IMAGES_SWEEP_AFTER = timedelta(0)
    assert sweep() == {"images.Image": [image.pk]}

    # then: processed, under the task id the upload answered with
    ready = wait_for(lambda: Image.objects.filter(pk=image.pk, status="ready").first())
    assert ready.task_id == response.json()["images"][0]["task_id"]


def test_gallery_and_detail_pages_render_for_the_owner(client, user):
    [image], _ = services.images_upload(owner=user, uploads=[upload(picture(), name="one.jpg")])
    client.force_login(user)

    gallery = client.get(reverse("images:gallery"))
    detail = client.get(reverse("images:detail", args=[image.pk]))

    assert gallery.status_code == 200
    assert gallery.context["batch"] is None
    assert "one.jpg" in gallery.content.decode()
    assert detail.status_code == 200
    assert "No renditions yet (pending)." in detail.content.decode()


def test_gallery_shows_the_latest_batch(client, user):
    services.images_upload(owner=user, uploads=[upload(picture()), upload(picture())])
    client.force_login(user)

    response = client.get(reverse("images:gallery"))

    assert response.status_code == 200
    assert response.context["batch"]["total"] == 2
    assert "0 done, 0 failed of 2" in response.content.decode()


def test_pages_need_login(client):
    for name in ("images:gallery", "images:upload"):
        assert client.get(reverse(name)).status_code == 302


def test_the_gallery_is_paginated_with_a_next_link(client, user, monkeypatch):
    monkeypatch.setattr("images.views.GALLERY_PAGE_SIZE", 2)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        services.images_upload(owner=user, uploads=[upload(picture(size=(8, 8)), name=name)])
    client.force_login(user)

    first = client.get(reverse("images:gallery"))
    second = client.get(reverse("images:gallery"), {"page": "2"})
    odd = client.get(reverse("images:gallery"), {"page": "\u00b2"})

    assert [image.original_name for image in first.context["images"]] == ["c.jpg", "b.jpg"]
    assert 'href="?page=2" rel="next"' in first.content.decode()
    assert 'data-list-url="/api/v1/images/"' in first.content.decode()
    assert [image.original_name for image in second.context["images"]] == ["a.jpg"]
    assert 'rel="next"' not in second.content.decode()
    assert odd.status_code == 200
    assert odd.context["page"].number == 1
