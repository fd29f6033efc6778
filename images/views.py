from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from images import imaging, selectors, services
from images.forms import UploadForm
from mysite.storage import file_response

GALLERY_PAGE_SIZE = 24


@login_required
@require_http_methods(["GET", "POST"])
def upload(request):
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    if form.is_bound and form.is_valid():
        try:
            images, _batch = services.images_upload(
                owner=request.user, uploads=form.cleaned_data["files"]
            )
        except services.ImageRejected as exc:
            for reason in exc.reasons:  # every bad file, one line each
                form.add_error("files", reason)
        else:
            noun = "picture" if len(images) == 1 else "pictures"
            messages.success(request, f"{len(images)} {noun} uploaded; renditions on the way.")
            return redirect("images:gallery")
    return render(request, "images/upload.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_GET
def gallery(request):
    """My pictures, a page at a time; gallery.js follows those still processing
    (and the latest batch) through ``/api/v1/images/``."""
    images = selectors.image_list_owned(user=request.user)
    page = Paginator(images, GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    batch = selectors.batch_latest_owned(user=request.user)
    context = {"images": page, "page": page, "batch": batch and selectors.batch_status(batch)}
    return render(request, "images/gallery.html", context)


@login_required
@require_GET
def detail(request, image_id: int):
    image = selectors.image_get_owned(image_id=image_id, user=request.user)
    return render(request, "images/detail.html", {"image": image})


@login_required
@require_GET
def rendition_file(request, image_id: int, spec: str):
    """A rendition, inline (the pages show it); ``?download``: as an attachment, which
    a link's ``download`` attribute cannot ask of a presigned bucket URL."""
    image = selectors.image_get_owned(image_id=image_id, user=request.user)
    rendition = next((r for r in image.renditions.all() if r.spec == spec), None)
    if rendition is None:
        raise Http404("No such rendition.")
    return file_response(
        rendition.file,
        filename=f"{_stem(image)}-{spec}.{imaging.EXTENSIONS[rendition.format]}",
        as_attachment="download" in request.GET,
        content_type=imaging.CONTENT_TYPES[rendition.format],
    )


@login_required
@require_GET
def original_file(request, image_id: int):
    image = selectors.image_get_owned(image_id=image_id, user=request.user)
    # Served as the format we read from its bytes, never as its name says (x.html).
    return file_response(
        image.original,
        filename=f"{_stem(image)}.{imaging.EXTENSIONS[image.format]}",
        as_attachment=True,
        content_type=imaging.CONTENT_TYPES[image.format],
    )


def _stem(image) -> str:
    return image.original_name.rsplit(".", 1)[0] or "picture"
