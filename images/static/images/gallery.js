// Gallery: follow each picture's status and the latest batch without a reload.
(function () {
  "use strict";
  const gallery = document.getElementById("gallery");
  const batchBox = document.getElementById("batch");
  const progress = document.getElementById("batch-progress");
  const batchText = document.getElementById("batch-text");
  const FINAL = new Set(["ready", "failed"]);

  function updateTile(image) {
    const tile = gallery.querySelector('[data-image-id="' + image.id + '"]');
    if (!tile) return;
    tile.dataset.status = image.status;
    const state = tile.querySelector(".state");
    state.textContent = image.status;
    state.className = "state state-" + image.status;
    const thumb = image.renditions.thumbnail;
    const holder = tile.querySelector(".thumb");
    if (thumb && !holder.querySelector("img")) {
      const img = document.createElement("img");
      img.src = thumb.url;
      img.alt = image.original_name;
      img.width = thumb.width;
      img.height = thumb.height;
      holder.appendChild(img);
    }
  }

  function updateBatch(batch) {
    if (!batch) return;
    batchBox.hidden = false;
    progress.max = batch.total;
    progress.value = batch.done + batch.failed;
    batchText.textContent = batch.done + " done, " + batch.failed + " failed of " + batch.total;
  }

  async function poll() {
    try {
      const response = await fetch(gallery.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const body = await response.json();
        body.images.forEach(updateTile);
        updateBatch(body.batch);
        const waiting = body.images.some((image) => !FINAL.has(image.status));
        const batchOpen = body.batch && !body.batch.finished;
        if (!waiting && !batchOpen) return;
      }
    } catch (err) {
      // Offline for a moment: try again.
    }
    setTimeout(poll, 1000);
  }
  const pending = gallery.querySelector('[data-status="pending"], [data-status="processing"]');
  if (pending) poll();
})();
