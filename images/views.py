from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from images import selectors, services
from images.forms import UploadForm
from mysite.api import api_login_required, json_error
from mysite.storage import file_response


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
            form.add_error("files", str(exc))
        else:
            noun = "picture" if len(images) == 1 else "pictures"
            messages.success(request, f"{len(images)} {noun} uploaded; renditions on the way.")
            return redirect("images:gallery")
    return render(request, "images/upload.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_GET
def gallery(request):
    images = selectors.image_list_owned(user=request.user)
    batch = selectors.batch_latest_owned(user=request.user)
    context = {"images": images, "batch": batch and selectors.batch_status(batch)}
    return render(request, "images/gallery.html", context)


@login_required
@require_GET
@never_cache
def gallery_status(request):
    """The gallery's live part: every image's status and the latest batch's progress."""
    images = selectors.image_list_owned(user=request.user)
    batch = selectors.batch_latest_owned(user=request.user)
    return JsonResponse(
        {
            "images": [selectors.image_status(image) for image in images],
            "batch": batch and selectors.batch_status(batch),
        }
    )


@login_required
@require_GET
def detail(request, image_id: int):
    image = selectors.image_get_owned(image_id=image_id, user=request.user)
    return render(request, "images/detail.html", {"image": image})


@login_required
@require_GET
def rendition_file(request, image_id: int, spec: str):
    image = selectors.image_get_owned(image_id=image_id, user=request.user)
    rendition = next((r for r in image.renditions.all() if r.spec == spec), None)
    if rendition is None:
        raise Http404("No such rendition.")
    stem = image.original_name.rsplit(".", 1)[0]
    extension = rendition.file.name.rsplit(".", 1)[-1]
    return file_response(rendition.file, filename=f"{stem}-{spec}.{extension}", as_attachment=False)


@login_required
@require_GET
def original_file(request, image_id: int):
    image = selectors.image_get_owned(image_id=image_id, user=request.user)
    return file_response(image.original, filename=image.original_name, as_attachment=True)


@api_login_required
@require_POST
def api_create(request):
    uploads = request.FILES.getlist("file")
    if len(uploads) != 1:
        return json_error("Send exactly one image as the multipart field 'file'.", status=400)
    try:
        [image], _ = services.images_upload(owner=request.user, uploads=uploads)
    except services.ImageRejected as exc:
        return json_error(str(exc), status=400)
    status = selectors.image_status(image)
    body = {key: status[key] for key in ("id", "status", "status_url", "task_id")}
    return JsonResponse(body, status=202)


@api_login_required
@require_GET
@never_cache
def api_detail(request, image_id: int):
    try:
        image = selectors.image_get_owned(image_id=image_id, user=request.user)
    except Http404:
        return json_error("Unknown image.", status=404)
    return JsonResponse(selectors.image_status(image))
