import pytest
from playwright.sync_api import expect

from tests.browser.look import screenshot
from tests.helpers.browser import log_in
from tests.helpers.factories import picture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_uploaded_picture_gets_its_thumbnail_without_a_reload(
    live_server, celery_worker, user, page, tmp_path, media
):
    # given: a logged-in user with a picture on disk
    photo = tmp_path / "sunset.jpg"
    photo.write_bytes(picture("RGB", (1600, 1200)))
    log_in(page, live_server, username="alice", password="alice-password-1")

    # when: they upload it from the page
    page.goto(f"{live_server.url}/images/upload/")
    page.set_input_files("#id_files", str(photo))
    page.click("#upload-form button[type=submit]")

    # then: the gallery shows it, and its thumbnail appears when the worker is done
    expect(page).to_have_url(f"{live_server.url}/images/")
    tile = page.locator(".tile", has_text="sunset.jpg")
    expect(tile.locator(".state")).to_have_text("ready", timeout=30_000)
    thumbnail = tile.locator("img")  # decode() waits until the picture has loaded
    expect(thumbnail).to_be_visible()
    natural = "img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])"
    assert thumbnail.evaluate(natural) == [150, 112]  # the whole 4:3 picture, not a square crop
    screenshot(page, "upload-done")

    # and the detail page lists every rendition with a download link
    tile.click()
    rows = page.locator("#renditions tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator('#renditions tr[data-spec="webp"]')).to_contain_text("1600\u00d71200")

    # and "download" downloads (an attachment), while the page still shows the picture inline
    with page.expect_download() as original:
        page.click("text=download the original")
    assert original.value.suggested_filename == "sunset.jpg"
    with page.expect_download() as rendition:
        page.click('#renditions tr[data-spec="webp"] a')
    assert rendition.value.suggested_filename == "sunset-webp.webp"
    shown = page.locator('figure img[alt="display"]')
    assert shown.evaluate("img => img.decode().then(() => img.naturalWidth)") == 800


def test_a_wide_picture_keeps_its_shape_in_the_gallery(
    live_server, celery_worker, user, page, tmp_path, media
):
    # given: a panorama, four times as wide as it is high
    photo = tmp_path / "panorama.jpg"
    photo.write_bytes(picture("RGB", (2000, 500)))
    log_in(page, live_server, username="alice", password="alice-password-1")

    # when: it is uploaded and processed
    page.goto(f"{live_server.url}/images/upload/")
    page.set_input_files("#id_files", str(photo))
    page.click("#upload-form button[type=submit]")
    tile = page.locator(".tile", has_text="panorama.jpg")
    expect(tile.locator(".state")).to_have_text("ready", timeout=30_000)

    # then: its thumbnail is the whole panorama, shown unstretched inside the tile's box
    thumbnail = tile.locator("img")
    expect(thumbnail).to_be_visible()
    natural = "img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])"
    assert thumbnail.evaluate(natural) == [150, 38]
    shown = thumbnail.bounding_box()  # the tile may be narrower: scaled, never stretched
    assert 0 < shown["width"] <= 150
    assert abs(shown["height"] - shown["width"] * 38 / 150) <= 1, shown


def test_a_file_that_is_not_a_picture_gets_a_form_error(live_server, user, page, tmp_path):
    fake = tmp_path / "notes.jpg"
    fake.write_text("just text")
    log_in(page, live_server, username="alice", password="alice-password-1")

    page.goto(f"{live_server.url}/images/upload/")
    page.set_input_files("#id_files", str(fake))
    page.click("#upload-form button[type=submit]")

    expect(page.locator("#upload-errors")).to_contain_text("notes.jpg: The file is not an image")


def test_every_bad_file_of_an_upload_is_listed_by_name(live_server, user, page, tmp_path):
    # given: a good picture, an empty file and a JPEG cut short
    files = {
        "good.jpg": picture(),
        "empty.jpg": b"",
        "cut.jpg": picture()[:-5],
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    log_in(page, live_server, username="alice", password="alice-password-1")

    # when: they go up together
    page.goto(f"{live_server.url}/images/upload/")
    page.set_input_files("#id_files", [str(tmp_path / name) for name in files])
    page.click("#upload-form button[type=submit]")

    # then: each bad file is named with a plain reason; the good one is not kept alone
    expect(page.locator("#upload-errors li")).to_have_text(
        [
            "empty.jpg: The file is empty.",
            "cut.jpg: The image is damaged or incomplete; save or export it again and retry.",
        ]
    )
    expect(page).to_have_url(f"{live_server.url}/images/upload/")


def test_a_batch_shows_its_progress_and_the_gallery_polls_only_what_is_processing(
    live_server, celery_worker, user, page, tmp_path, media
):
    # given: two pictures on disk
    paths = []
    for name in ("left.jpg", "right.jpg"):
        path = tmp_path / name
        path.write_bytes(picture("RGB", (1200, 900)))
        paths.append(str(path))
    log_in(page, live_server, username="alice", password="alice-password-1")
    asked = []
    page.on("request", lambda request: asked.append(request.url))

    # when: both go up at once
    page.goto(f"{live_server.url}/images/upload/")
    page.set_input_files("#id_files", paths)
    page.click("#upload-form button[type=submit]")

    # then: the batch's progress comes to its end, and both tiles are ready
    expect(page.locator("#batch-text")).to_have_text("2 done, 0 failed of 2", timeout=30_000)
    expect(page.locator(".tile .state", has_text="ready")).to_have_count(2, timeout=30_000)
    # (a fast worker may finish before the gallery loads: then it asks nothing)
    listed = [url for url in asked if "/api/v1/images/?" in url]
    assert all("id=" in url for url in listed), listed  # only the tiles still processing
