"""``/api/v1/images/``: upload pictures, follow them to ready, list, get, delete."""

from typing import Annotated

from django.conf import settings
from django.urls import reverse
from ninja import Field, File, Path, Query, Router, Schema, Status, UploadedFile
from ninja.pagination import paginate

from images import selectors, services
from images.models import Image
from mysite.api.errors import responses
from mysite.api.pagination import Page
from mysite.models import ID_MAX

router = Router(tags=["images"])

# Ids are the database's bigint: a larger number names nothing (400, not a 500).
ImageId = Annotated[int, Field(ge=1, le=ID_MAX)]


class RenditionOut(Schema):
    url: str
    format: str
    width: int
    height: int
    bytes: int


class ImageOut(Schema):
    id: int
    status: Image.Status
    error: str = Field(description="Why processing failed; empty otherwise.")
    original_name: str
    format: str = Field(description="JPEG, PNG, WEBP or GIF: read from the file's content.")
    width: int = Field(description="As shown, after the EXIF orientation.")
    height: int
    bytes: int
    task_id: str
    status_url: str
    detail_url: str
    renditions: dict[str, RenditionOut] = Field(description="By spec, once ready.")

    @staticmethod
    def resolve_status_url(image: Image) -> str:
        return reverse("api-v1:image-get", args=[image.pk])

    @staticmethod
    def resolve_detail_url(image: Image) -> str:
        return image.get_absolute_url()

    @staticmethod
    def resolve_renditions(image: Image) -> dict:
        return {
            rendition.spec: {
                "url": rendition.get_absolute_url(),
                "format": rendition.format,
                "width": rendition.width,
                "height": rendition.height,
                "bytes": rendition.bytes,
            }
            for rendition in image.renditions.all()
        }


class BatchOut(Schema):
    id: int
    total: int
    done: int
    failed: int
    finished: bool


class UploadOut(Schema):
    images: list[ImageOut]
    batch: BatchOut | None = Field(description="Several images are processed as one batch.")


class ImageFilter(Schema):
    status: list[Image.Status] = Field(
        default_factory=list, description="Only images in these states (repeat it)."
    )
    id: list[ImageId] = Field(
        default_factory=list,
        max_length=settings.API_PAGE_SIZE_MAX,
        description="Only these images (repeat it): the gallery polls the ones still processing.",
    )


@router.post("/", response=responses({202: UploadOut}, 403, 413, 415), url_name="image-upload")
def image_upload(request, file: File[list[UploadedFile]]):
    """Upload one or several pictures (multipart, the field ``file`` repeated).

    Each is checked from its content first: one bad file refuses them all
    (the message names every bad one; the status is the first one's: 413 too
    large, 415 not a picture we take, 400 damaged) and nothing is
    kept. 202: stored and queued; follow each ``status_url`` to ``ready``.
    """
    images, batch = services.images_upload(owner=request.user, uploads=file)
    return Status(202, {"images": images, "batch": batch and selectors.batch_status(batch)})


@router.get("/", response=responses({200: list[ImageOut]}), url_name="image-list")
@paginate(Page)
def image_list(request, filters: Query[ImageFilter]):
    """My pictures, newest first."""
    return selectors.image_list_owned(user=request.user, statuses=filters.status, ids=filters.id)


@router.get("/batches/{batch_id}", response=responses({200: BatchOut}, 404), url_name="batch-get")
def batch_get(request, batch_id: Annotated[int, Path(ge=1, le=ID_MAX)]):
    """A batch's progress: how many of its pictures are done and failed."""
    return selectors.batch_status(selectors.batch_get_owned(batch_id=batch_id, user=request.user))


@router.get("/{image_id}", response=responses({200: ImageOut}, 404), url_name="image-get")
def image_get(request, image_id: Annotated[int, Path(ge=1, le=ID_MAX)]):
    """One of my pictures, with its renditions' URLs once ready."""
    return selectors.image_get_owned(image_id=image_id, user=request.user)


@router.delete("/{image_id}", response=responses({204: None}, 403, 404), url_name="image-delete")
def image_delete(request, image_id: Annotated[int, Path(ge=1, le=ID_MAX)]):
    """Delete one of my pictures, its renditions and their files."""
    image = selectors.image_get_owned(image_id=image_id, user=request.user)
    services.image_delete(image=image)
    return Status(204, None)
