"""``/api/v1/images/`` as a program uses it: a bearer token, no cookie, no CSRF."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image as PILImage

from images import services
from images.models import Image, ImageBatch
from mysite.tokens import token_create, token_revoke
from tests.helpers.factories import picture, upload
from tests.helpers.properties import FEW
from tests.helpers.services import wait_for

URL = "/api/v1/images/"


def bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def token(user):
    return token_create(user=user, name="uploader")


@pytest.fixture
def auth(token) -> dict:
    return bearer(token[1])


def stored_images(user, count: int) -> list[Image]:
    """Images as uploaded, oldest first."""
    return [
        services.images_upload(owner=user, uploads=[upload(picture(size=(8, 8)), f"{n}.jpg")])[0][0]
        for n in range(count)
    ]


@pytest.mark.django_db(transaction=True)
def test_a_program_uploads_a_photo_and_follows_it_to_ready(client, auth, celery_worker, media):
    # when: a photo goes up with a token
    response = client.post(
        URL, {"file": upload(picture("RGB", (1600, 1200)), "beach.jpg")}, headers=auth
    )

    # then: accepted, with where to follow it
    assert response.status_code == 202, response.content
    [created] = response.json()["images"]
    assert created["status"] == "pending"

    ready = wait_for(
        lambda: (
            (body := client.get(created["status_url"], headers=auth).json())["status"]
            in {"ready", "failed"}
            and body
        ),
        what="the photo to be processed",
    )
    assert ready["status"] == "ready", ready["error"]
    assert (ready["format"], ready["width"], ready["height"]) == ("JPEG", 1600, 1200)
    assert set(ready["renditions"]) == {"thumbnail", "display", "watermarked", "webp"}
    assert ready["renditions"]["thumbnail"]["width"] == 150

    # and the task it named finished
    task = client.get(reverse("api-v1:task-get", args=[created["task_id"]]), headers=auth)
    assert task.json()["state"] == "SUCCESS"


@pytest.mark.django_db
def test_the_list_pages_to_the_end_newest_first(client, user, auth):
    images = stored_images(user, 5)

    seen, url, pages = [], f"{URL}?limit=2", 0
    while url:
        body = client.get(url, headers=auth).json()
        assert body["count"] == 5
        seen += [item["id"] for item in body["items"]]
        url, pages = body["next"], pages + 1

    assert pages == 3
    assert seen == [image.pk for image in reversed(images)]


@pytest.mark.django_db
def test_the_list_filters_by_status_and_ids(client, user, auth):
    first, second, third = stored_images(user, 3)
    Image.objects.filter(pk=second.pk).update(status=Image.Status.READY)

    def ids(query: str) -> list[int]:
        response = client.get(f"{URL}?{query}", headers=auth)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids("status=ready") == [second.pk]
    assert ids("status=pending&status=processing") == [third.pk, first.pk]
    assert ids(f"id={first.pk}&id={second.pk}") == [second.pk, first.pk]
    assert ids(f"id={first.pk}&status=ready") == []


@pytest.mark.django_db
def test_another_users_images_are_404_and_not_listed(client, user, other_user, media):
    [image] = stored_images(user, 1)
    _, theirs = token_create(user=other_user, name="theirs")

    get = client.get(reverse("api-v1:image-get", args=[image.pk]), headers=bearer(theirs))
    delete = client.delete(reverse("api-v1:image-delete", args=[image.pk]), headers=bearer(theirs))
    listed = client.get(f"{URL}?id={image.pk}", headers=bearer(theirs))

    assert (get.status_code, get.json()["error"]["code"]) == (404, "not_found")
    assert delete.status_code == 404
    assert listed.json() == {"count": 0, "next": None, "previous": None, "items": []}
    assert Image.objects.filter(pk=image.pk).exists()
    assert len(media.names()) == 1


@pytest.mark.django_db(transaction=True)
def test_delete_removes_the_image_its_renditions_and_their_files(
    client, user, auth, celery_worker, media
):
    # given: a processed photo, its original and renditions stored
    [image] = stored_images(user, 1)
    wait_for(lambda: Image.objects.filter(pk=image.pk, status="ready").exists(), what="ready")
    assert len(media.names()) == 5

    # when
    response = client.delete(reverse("api-v1:image-delete", args=[image.pk]), headers=auth)

    # then
    assert response.status_code == 204
    assert not Image.objects.filter(pk=image.pk).exists()
    assert media.names() == []
    assert client.get(reverse("api-v1:image-get", args=[image.pk]), headers=auth).status_code == 404


@pytest.mark.django_db
def test_a_batch_is_read_by_its_owner_only(client, user, other_user, auth):
    _, batch = services.images_upload(owner=user, uploads=[upload(picture()), upload(picture())])
    _, theirs = token_create(user=other_user, name="theirs")
    url = reverse("api-v1:batch-get", args=[batch.pk])

    mine = client.get(url, headers=auth)

    assert mine.json() == {"id": batch.pk, "total": 2, "done": 0, "failed": 0, "finished": False}
    assert client.get(url, headers=bearer(theirs)).status_code == 404
    assert ImageBatch.objects.count() == 1


@pytest.mark.django_db
def test_a_revoked_token_is_401(client, token):
    row, raw = token
    assert client.get(URL, headers=bearer(raw)).status_code == 200

    token_revoke(token=row)

    response = client.get(URL, headers=bearer(raw))
    assert (response.status_code, response.json()["error"]["code"]) == (401, "unauthenticated")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", f"{URL}{10**30}", 400),
        ("delete", f"{URL}{10**30}", 400),
        ("get", f"{URL}{2**63}", 400),
        ("get", f"{URL}0", 400),
        ("get", f"{URL}-1", 400),
        ("get", f"{URL}\u00b2", 400),  # a superscript two is not an id
        ("get", f"{URL}\u0663", 400),  # nor an Arabic-Indic three
        ("get", f"{URL}{2**63 - 1}", 404),
        ("get", f"{URL}batches/{10**30}", 400),
        ("get", f"{URL}?id={10**30}", 400),
        ("get", f"{URL}?id=%C2%B2", 400),
        ("get", f"{URL}?status=lost", 400),
        ("get", f"{URL}?limit=1000", 400),
        ("get", f"{URL}x/y", 404),
    ],
)
def test_bad_ids_and_filters_are_clear_errors(client, auth, method, path, status):
    response = getattr(client, method)(path, headers=auth)

    assert response.status_code == status, response.content
    assert set(response.json()["error"]) == {"code", "message", "fields"}


@pytest.mark.django_db
def test_the_upload_needs_no_csrf_with_a_token(user, auth, media):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)

    response = strict.post(URL, {"file": upload(picture())}, headers=auth)

    assert response.status_code == 202
    with PILImage.open(io.BytesIO(media.read(Image.objects.get().original.name))) as stored:
        assert stored.format == "JPEG"


@pytest.mark.django_db
def test_the_session_needs_csrf_on_writes(user):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)

    assert strict.get(URL).status_code == 200
    assert strict.post(URL, {"file": upload(picture())}).status_code == 403
    assert Image.objects.count() == 0


ARGUMENT = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["--all", "--wait", "--timeout", "nan", "inf", "-5", "1e400", "\u00b2"]),
)


@pytest.mark.django_db
@FEW
@given(arguments=st.lists(ARGUMENT, max_size=4))
def test_process_images_arguments_give_a_result_or_a_command_error(arguments, capsys):
    # with no images stored: every accepted call says there is nothing to do
    try:
        call_command("process_images", *arguments)
    except CommandError:
        pass
    else:
        assert "Nothing to process." in capsys.readouterr().out
    assert ImageBatch.objects.count() == 0


@pytest.mark.django_db
def test_a_multipart_body_without_a_boundary_is_a_clear_400(client, user, auth):
    client.force_login(user)

    api = client.post(URL, b"--x--\r\n", content_type="multipart/form-data", headers=auth)
    page = client.post("/images/upload/", b"--x--\r\n", content_type="multipart/form-data")

    assert api.status_code == 400
    assert api.json()["error"]["message"].startswith("The multipart body could not be read")
    assert page.status_code == 400
    assert Image.objects.count() == 0
