// Gallery: follow the pictures still processing, and the latest batch, without a reload.
// Both through the API (/api/v1/images/, the session's cookie): only the tiles on
// this page that are not final are asked for, and the batch until it has finished.
(function () {
  "use strict";
  const gallery = document.getElementById("gallery");
  const batchBox = document.getElementById("batch");
  const progress = document.getElementById("batch-progress");
  const batchText = document.getElementById("batch-text");
  const FINAL = new Set(["ready", "failed"]);
  const HEADERS = { headers: { Accept: "application/json" } };

  function waitingIds() {
    const tiles = gallery.querySelectorAll("[data-image-id]");
    return Array.from(tiles)
      .filter((tile) => !FINAL.has(tile.dataset.status))
      .map((tile) => tile.dataset.imageId);
  }

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
    batchBox.hidden = false;
    batchBox.dataset.finished = String(batch.finished);
    progress.max = batch.total;
    progress.value = batch.done + batch.failed;
    batchText.textContent = batch.done + " done, " + batch.failed + " failed of " + batch.total;
  }

  function batchOpen() {
    return Boolean(batchBox.dataset.batchUrl) && batchBox.dataset.finished !== "true";
  }

  async function pollImages(ids) {
    const query = new URLSearchParams({ limit: String(ids.length) });
    ids.forEach((id) => query.append("id", id));
    const response = await fetch(gallery.dataset.listUrl + "?" + query, HEADERS);
    if (response.ok) (await response.json()).items.forEach(updateTile);
  }

  async function pollBatch() {
    const response = await fetch(batchBox.dataset.batchUrl, HEADERS);
    if (response.ok) updateBatch(await response.json());
  }

  async function poll() {
    const ids = waitingIds();
    if (!ids.length && !batchOpen()) return;
    try {
      if (ids.length) await pollImages(ids);
      if (batchOpen()) await pollBatch();
    } catch (err) {
      // Offline for a moment: try again.
    }
    setTimeout(poll, 1000);
  }
  poll();
})();
