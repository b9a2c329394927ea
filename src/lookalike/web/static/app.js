// lookalike serve: the page. Plain ES module, no build step, no network beyond this server.
// Views follow the URL hash: #/search?id=12&k=12&metric=cosine, #/compare?a=1&b=2, #/duplicates, #/index.

const $ = (sel) => document.querySelector(sel);

/** Build an element: h("a", {href: "#", class: "x"}, "text", child). Text is never parsed as HTML. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "style") Object.assign(el.style, value); // CSSOM: allowed by the CSP, unlike style=""
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const fmt = {
  int: (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("en")),
  ms: (n) => (n === null || n === undefined ? "—" : n < 10 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`),
  score: (n) => (Math.abs(n) >= 1000 ? n.toLocaleString("en", { maximumFractionDigits: 1 }) : n.toPrecision(4)),
  bytes: (n) => {
    if (n === null || n === undefined) return "—";
    const units = ["bytes", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? `${n} bytes` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
  },
  when: (t) => (t ? new Date(t * 1000).toLocaleString() : "—"),
  size: (w, hgt) => (w && hgt ? `${w}×${hgt}` : ""),
};

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "application/json" }, ...options });
  } catch (err) {
    throw new ApiError(0, "the server cannot be reached; is `lookalike serve` still running?");
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON */
  }
  if (!response.ok) {
    throw new ApiError(response.status, (body && body.detail) || `${response.status} ${response.statusText}`);
  }
  return body;
}

// ------------------------------------------------------------------------------------------------------
// State

const state = {
  info: null,
  upload: null, // the File searched for (kept in this page only)
  uploadUrl: null,
  gallery: { offset: 0, limit: 24, order: "random", seed: randomSeed(), q: "" },
  pickSeed: randomSeed(),
  compare: { a: null, b: null }, // each {kind: "indexed", id, ...} or {kind: "upload", file, url}
  searchToken: 0,
  compareToken: 0,
  dupTimer: null,
  moveTimer: null,
  inspectTimer: null,
  dups: null, // the last GET /api/duplicates
  infoTimer: null,
};
const DROP_HINT = "…or paste one, or click any picture below to find its look-alikes";

function randomSeed() {
  return Math.floor(Math.random() * 2 ** 31);
}

function params() {
  const hash = location.hash || "#/search";
  const [path, query] = hash.slice(1).split("?");
  return { view: path.replace(/^\//, "") || "search", q: new URLSearchParams(query || "") };
}

function go(view, query = {}) {
  const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== null && v !== undefined));
  const target = `#/${view}${q.toString() ? `?${q}` : ""}`;
  if (location.hash === target) route();
  else location.hash = target;
}

function banner(message) {
  const el = $("#banner");
  if (!message) {
    el.hidden = true;
    el.replaceChildren();
    return;
  }
  el.hidden = false;
  el.replaceChildren(h("span", {}, message), h("button", { class: "close", type: "button", "aria-label": "Dismiss", onclick: () => banner(null) }, "×"));
}

function setStatus(el, text, kind = "") {
  el.className = `status ${kind}`;
  el.replaceChildren(kind === "busy" ? h("span", { class: "spinner", "aria-hidden": "true" }) : "", text || "");
}

const JOB_STAGES = { reading: "reading images", embedding: "embedding", verifying: "checking pairs", outliers: "looking for outliers" };

/** What the views of the background jobs share (duplicates, inspect: elements #NAME-start, -progress, -bar,
 * -stage, -status): the start button, the progress while working, and the status while working, before the
 * first run (emptying the `empty` elements) or failed, in the words of `text`. True once done. */
function renderJob(name, d, text) {
  const button = $(`#${name}-start`);
  const status = $(`#${name}-status`);
  button.disabled = d.state === "working" || d.state === "done";
  button.textContent = d.state === "done" ? "Up to date" : d.state === "failed" ? "Try again" : text.start;
  $(`#${name}-progress`).hidden = d.state !== "working";
  if (d.state === "working") {
    $(`#${name}-bar`).style.width = `${((d.total ? d.done / d.total : 0) * 100).toFixed(1)}%`;
    $(`#${name}-stage`).textContent = `${JOB_STAGES[d.stage] || "starting"} ${d.total ? `${fmt.int(d.done)} / ${fmt.int(d.total)}` : ""}`;
    setStatus(status, text.working, "busy");
  } else if (d.state === "idle") {
    setStatus(status, text.idle);
    for (const sel of text.empty) $(sel).replaceChildren();
  } else if (d.state === "failed") {
    setStatus(status, d.error || text.failed, "error");
  }
  return d.state === "done";
}

// ------------------------------------------------------------------------------------------------------
// Tiles

function markTiny(img) {
  const apply = () => {
    if (img.naturalWidth && img.naturalWidth < 96) img.classList.add("pixelated");
  };
  if (img.complete) apply();
  else img.addEventListener("load", apply, { once: true });
  img.addEventListener("error", () => img.closest(".tile, .slot-image, .query-image")?.classList.add("broken"), { once: true });
  return img;
}

function thumbImg(image, alt) {
  return markTiny(h("img", { src: image.thumb, alt: alt ?? image.path, loading: "lazy", decoding: "async" }));
}

/** A picture tile: the main button searches from it; extras go in the caption. */
function tile(image, { caption = [], label, onActivate, extra = [], cls = "" } = {}) {
  return h("figure", { class: `tile ${cls}`, dataset: { id: image.id } },
    h("button", { type: "button", class: "tile-main", title: image.path, "aria-label": label || `Find look-alikes of ${image.path}`, onclick: onActivate || (() => searchId(image.id)) },
      thumbImg(image, "")),
    h("figcaption", {}, ...caption, h("span", { class: "path", title: image.path }, image.path)),
    ...extra);
}

function skeletons(container, n) {
  container.replaceChildren(...Array.from({ length: Math.min(n, 24) }, () => h("div", { class: "skeleton", "aria-hidden": "true" })));
}

// ------------------------------------------------------------------------------------------------------
// Search

function searchOptions() {
  return { k: $("#k").value, metric: $("#metric").value };
}

function searchId(id) {
  go("search", { id, ...searchOptions() });
}

async function runSearchId(id, k, metric) {
  const token = ++state.searchToken;
  showQueryLoading();
  try {
    const result = await api(`/api/search?${new URLSearchParams({ id, k, metric })}`);
    if (token !== state.searchToken) return;
    renderResults(result);
  } catch (err) {
    if (token !== state.searchToken) return;
    searchFailed(err);
  }
}

async function runSearchUpload(file) {
  const token = ++state.searchToken;
  showQueryLoading(file);
  const body = new FormData();
  body.append("file", file, file.name || "upload");
  const { k, metric } = searchOptions();
  try {
    const result = await api(`/api/search?${new URLSearchParams({ k, metric })}`, { method: "POST", body });
    if (token !== state.searchToken) return;
    renderResults(result);
  } catch (err) {
    if (token !== state.searchToken) return;
    searchFailed(err);
  }
}

function searchFailed(err) {
  setStatus($("#search-status"), err.message, "error");
  $("#results").replaceChildren();
}

function showQueryLoading() {
  setStatus($("#search-status"), "Searching…", "busy");
  skeletons($("#results"), Number($("#k").value));
}

function searchFile(file) {
  if (!file) return;
  const ext = (file.name.match(/\.[^./]+$/) || [""])[0].toLowerCase();
  const known = state.info && state.info.extensions.includes(ext);
  if (file.type && !file.type.startsWith("image/") && !known) {
    const names = state.info ? state.info.formats.join(", ") : "JPEG, PNG, WebP, HEIC, AVIF, TIFF or GIF";
    setStatus($("#search-status"), `${file.name} is not an image (${file.type}); choose a file in one of these formats: ${names}`, "error");
    return;
  }
  if (state.info && file.size > state.info.uploads.max_bytes) {
    setStatus($("#search-status"), `${file.name} is ${fmt.bytes(file.size)}, over this server's upload limit of ${fmt.bytes(state.info.uploads.max_bytes)}`, "error");
    return;
  }
  if (state.uploadUrl) URL.revokeObjectURL(state.uploadUrl);
  state.upload = file;
  state.uploadUrl = URL.createObjectURL(file);
  const q = { upload: Date.now().toString(36), ...searchOptions() };
  go("search", q);
}

// An upload in a format this browser cannot show (HEIC, RAW, JPEG XL…): its name stands in for it.
function noPreview(event) {
  const img = event.target;
  img.replaceWith(h("p", { class: "muted no-preview" }, "no preview in this browser"));
}

function renderResults(result) {
  const q = result.query;
  const t = result.timing;
  const time = q.kind === "upload"
    ? [h("span", { class: "timing", "data-testid": "embed-time" }, `embedded in ${fmt.ms(t.embed_ms)}`),
       h("span", { class: "timing" }, `decoded in ${fmt.ms(t.decode_ms)}`),
       h("span", { class: "timing", "data-testid": "search-time" }, `searched in ${fmt.ms(t.search_ms)}`)]
    : [h("span", { class: "timing", "data-testid": "search-time" }, `searched in ${fmt.ms(t.search_ms)}`),
       h("span", { class: "timing" }, "stored vector")];
  if (t.copies_ms != null) time.push(h("span", { class: "timing" }, `copies checked in ${fmt.ms(t.copies_ms)}`));
  const src = q.kind === "upload" ? state.uploadUrl : q.thumb;
  const name = q.kind === "upload" ? q.name || "uploaded image" : q.path;
  const card = $("#query");
  card.hidden = false;
  card.replaceChildren(
    h("div", { class: "query-image" }, src ? markTiny(h("img", { src, alt: `Query: ${name}`, onerror: noPreview })) : ""),
    h("div", { class: "query-text" },
      h("p", { class: "eyebrow" }, q.kind === "upload" ? "Your image" : "Indexed image"),
      h("p", { class: "query-name", title: name }, name),
      h("p", { class: "muted" }, [fmt.size(q.width, q.height), q.bytes ? fmt.bytes(q.bytes) : ""].filter(Boolean).join(" · ")),
      h("p", { class: "timings" }, ...time),
      h("p", { class: "muted" }, `${result.hits.length} look-alikes by ${result.metric} ${result.higher_is_better ? "(higher is closer)" : "(lower is closer)"} · ${result.exact ? "exact" : "approximate"} search (${result.structure})`),
      h("p", { class: "query-actions" },
        q.kind === "indexed" ? h("a", { class: "button", href: q.thumb.replace(/thumb\?.*$/, "full"), target: "_blank", rel: "noopener" }, "Open image") : "",
        h("button", { type: "button", class: "button", onclick: () => { state.compare.a = querySide(q); go("compare", compareHash()); } }, "Compare with…"))));
  const scores = result.hits.map((hit) => hit.score);
  const lo = Math.min(...scores), hi = Math.max(...scores);
  const strength = (s) => {
    if (result.metric === "cosine" || result.metric === "ncc") return Math.max(0, Math.min(1, s));
    if (hi === lo) return 1;
    return 1 - (s - lo) / (hi - lo) * 0.85;
  };
  // hits the server's pixel check found to be copies of the query (re-encoded, resized, turned, cropped…)
  const same = (hit) => hit.copy ? `same picture as the query${hit.relation ? ` (${hit.relation})` : ""}` : "";
  const tiles = result.hits.map((hit) => tile(hit, {
    label: `Find look-alikes of ${hit.path}: rank ${hit.rank}, ${result.metric} ${fmt.score(hit.score)}${hit.copy ? `, ${same(hit)}` : ""}`,
    cls: hit.copy ? "same-picture" : "",
    caption: [h("span", { class: "rank" }, `#${hit.rank}`), h("span", { class: "score" }, fmt.score(hit.score)),
      h("span", { class: "meter", "aria-hidden": "true" }, h("span", { style: { width: `${(strength(hit.score) * 100).toFixed(1)}%` } })),
      hit.copy ? h("span", { class: "copy-badge", title: same(hit), "data-testid": "copy-badge" }, "same picture") : ""],
    extra: [h("button", { type: "button", class: "tile-compare", title: "Compare with the query", "aria-label": `Compare ${hit.path} with the query`,
      onclick: () => { state.compare.a = querySide(q); state.compare.b = { kind: "indexed", ...hit }; go("compare", compareHash()); } }, "⇄")],
  }));
  $("#results").replaceChildren(...tiles);
  setStatus($("#search-status"), result.hits.length ? "" : "The index has no other images.");
}

function querySide(q) {
  if (q.kind === "upload") return { kind: "upload", file: state.upload, url: state.uploadUrl, name: q.name, width: q.width, height: q.height };
  return { kind: "indexed", id: q.id, path: q.path, thumb: q.thumb, width: q.width, height: q.height };
}

// ------------------------------------------------------------------------------------------------------
// Gallery (browse) and the compare picker

async function loadGallery() {
  const g = state.gallery;
  const status = $("#gallery-status");
  setStatus(status, "Loading…", "busy");
  try {
    const q = new URLSearchParams({ offset: g.offset, limit: g.limit, order: g.order, seed: g.seed });
    if (g.q) q.set("q", g.q);
    const page = await api(`/api/images?${q}`);
    $("#gallery").replaceChildren(...page.images.map((image) => tile(image, { caption: [h("span", { class: "dims" }, fmt.size(image.width, image.height))] })));
    const last = Math.min(page.total, g.offset + page.images.length);
    setStatus(status, page.total ? `${fmt.int(g.offset + 1)}–${fmt.int(last)} of ${fmt.int(page.total)}${g.order === "random" ? ", shuffled" : ", by path"}` : g.q ? `No path contains “${g.q}”.` : "The index is empty.");
    $("#prev").disabled = g.offset === 0;
    $("#next").disabled = last >= page.total;
  } catch (err) {
    setStatus(status, err.message, "error");
  }
}

async function loadPicker() {
  try {
    const page = await api(`/api/images?${new URLSearchParams({ limit: 24, order: "random", seed: state.pickSeed })}`);
    $("#pick-gallery").replaceChildren(...page.images.map((image) => tile(image, {
      label: `Use ${image.path} in the comparison`,
      onActivate: () => pick({ kind: "indexed", ...image }),
    })));
  } catch (err) {
    setStatus($("#compare-status"), err.message, "error");
  }
}

// ------------------------------------------------------------------------------------------------------
// Compare

function compareHash() {
  const out = {};
  for (const side of ["a", "b"]) {
    const s = state.compare[side];
    if (s) out[side] = s.kind === "indexed" ? s.id : "upload";
  }
  return out;
}

function pick(side) {
  const target = document.querySelector("input[name=target]:checked").value;
  state.compare[target] = side;
  const other = target === "a" ? "b" : "a";
  document.querySelector(`input[name=target][value=${other}]`).checked = true;
  go("compare", compareHash());
}

function renderSlot(side) {
  const el = $(`#slot-${side}`);
  const s = state.compare[side];
  const input = h("input", { type: "file", accept: "image/*", class: "visually-hidden", id: `file-${side}`,
    onchange: (e) => setUploadSide(side, e.target.files[0]) });
  const picture = s
    ? h("div", { class: "slot-image" }, markTiny(h("img", { src: s.kind === "upload" ? s.url : s.thumb, alt: `Image ${side.toUpperCase()}: ${s.path || s.name || "upload"}` })))
    : h("div", { class: "slot-empty" }, "Pick a picture below or drop a file here");
  el.replaceChildren(
    h("p", { class: "slot-label" }, side.toUpperCase()),
    picture,
    h("p", { class: "slot-name", title: s ? s.path || s.name || "" : "" }, s ? s.path || s.name || "uploaded image" : "—"),
    h("p", { class: "muted" }, s ? [fmt.size(s.width, s.height), s.kind === "upload" ? "upload" : `id ${s.id}`].filter(Boolean).join(" · ") : ""),
    h("p", { class: "slot-actions" }, input,
      h("label", { class: "button", for: `file-${side}` }, "Choose file…"),
      s && s.kind === "indexed" ? h("button", { type: "button", class: "button", onclick: () => searchId(s.id) }, "Look-alikes") : ""));
}

function setUploadSide(side, file) {
  if (!file) return;
  state.compare[side] = { kind: "upload", file, url: URL.createObjectURL(file), name: file.name || "upload" };
  go("compare", compareHash());
}

async function runCompare() {
  const { a, b } = state.compare;
  renderSlot("a");
  renderSlot("b");
  const out = $("#compare-result");
  if (!a || !b) {
    out.replaceChildren();
    setStatus($("#compare-status"), a || b ? "Now pick the second image." : "Pick two images.");
    return;
  }
  const token = ++state.compareToken;
  setStatus($("#compare-status"), "Comparing…", "busy");
  out.classList.add("stale");
  try {
    let result;
    if (a.kind === "indexed" && b.kind === "indexed") {
      result = await api(`/api/compare?${new URLSearchParams({ a: a.id, b: b.id })}`);
    } else {
      const body = new FormData();
      const q = new URLSearchParams();
      for (const [name, s] of [["a", a], ["b", b]]) {
        if (s.kind === "upload") body.append(name, s.file, s.name);
        else q.set(name, s.id);
      }
      result = await api(`/api/compare?${q}`, { method: "POST", body });
    }
    if (token !== state.compareToken) return;
    for (const [name, s] of [["a", a], ["b", b]]) {
      const r = result[name];
      Object.assign(s, { width: r.width, height: r.height });
    }
    renderSlot("a");
    renderSlot("b");
    out.replaceChildren(compareTable(result));
    setStatus($("#compare-status"), "");
  } catch (err) {
    if (token !== state.compareToken) return;
    out.replaceChildren();
    setStatus($("#compare-status"), err.message, "error");
  } finally {
    out.classList.remove("stale");
  }
}

function compareTable(r) {
  const rows = [["L1", "l1", "↓ mean absolute difference"], ["MSE", "mse", "↓ mean squared difference"],
    ["Cosine", "cosine", "↑ angle between the vectors"], ["NCC", "ncc", "↑ correlation after centring"]];
  return h("div", { class: "compare-card", "data-testid": "compare-table" },
    h("table", { class: "scores" },
      h("caption", {}, "How alike are A and B?"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Metric"), h("th", { scope: "col" }, "Pixels"), h("th", { scope: "col" }, "Features"), h("th", { scope: "col", class: "muted" }, ""))),
      h("tbody", {}, rows.map(([label, key, note]) => h("tr", {},
        h("th", { scope: "row" }, label),
        h("td", {}, fmt.score(r.pixels[key])),
        h("td", { class: "feature" }, fmt.score(r.features[key])),
        h("td", { class: "muted note" }, note))))),
    h("p", { class: "muted" },
      `Pixels: the ${r.input_size}×${r.input_size} input the network sees, normalised. Features: ${r.model}${r.cifar_stem ? " (CIFAR stem)" : ""}, ${r.precision}. `,
      h("span", { class: "timing" }, `computed in ${fmt.ms(r.timing.compare_ms)}`)));
}

// ------------------------------------------------------------------------------------------------------
// Duplicates: groups to review, keepers, decisions, moves with undo

function post(path, body) {
  return api(path, { method: "POST", headers: { Accept: "application/json", "Content-Type": "application/json" }, body: JSON.stringify(body ?? {}) });
}

async function loadDuplicates(start = false) {
  clearTimeout(state.dupTimer);
  const status = $("#dup-status");
  try {
    const d = await api("/api/duplicates", start ? { method: "POST" } : {});
    state.dups = d;
    renderDuplicates(d);
    if (d.state === "working" && params().view === "duplicates") state.dupTimer = setTimeout(() => loadDuplicates(), 600);
    if (d.can_move) loadMoves();
  } catch (err) {
    setStatus(status, err.message, "error");
  }
}

/** Run a change, then show the groups as they now are; errors go to the banner. */
async function act(work, done) {
  try {
    const out = await work();
    if (done) done(out);
    await loadDuplicates();
  } catch (err) {
    banner(err.message);
  }
}

function asImage(m) {
  return { id: m.id, path: m.path, thumb: m.thumb || "", full: m.full, width: m.width, height: m.height };
}

function memberTile(g, m, role) {
  const buttons = [];
  const writable = !state.dups.read_only;
  if (role === "dup" && writable && m.id !== null) {
    buttons.push(h("button", { type: "button", class: "mini", "data-action": "keep", title: "Keep this file instead; the others are checked against it", onclick: () => act(() => post(`/api/duplicates/groups/${g.id}/keeper`, { id: m.id, version: state.dups.version })) }, "Keep this"));
    if (m.kind !== "exact") buttons.push(h("button", { type: "button", class: "mini", "data-action": "distinct", title: "These two are not duplicates: never group them again", onclick: () => act(() => post("/api/decisions", { a: g.keeper, b: m.id })) }, "Not a duplicate"));
  }
  if (role === "apart" && writable) {
    const k = g.members[0];
    buttons.push(h("button", { type: "button", class: "mini", "data-action": "forget", title: "Take the decision back", onclick: () => act(() => post("/api/decisions/forget", { a: k.sha256, b: m.sha256 })) }, "Undo"));
  }
  if ((role === "dup" || role === "apart") && m.id !== null) {
    buttons.push(h("button", { type: "button", class: "mini", "data-action": "review", title: "Side by side, zoom, swipe, overlay and difference map", onclick: () => openReview(g, m) }, "Review"));
  }
  const label = role === "keeper" ? "keep" : role === "apart" ? "not a duplicate" : role === "stays" ? "stays" : m.kind;
  const cls = role === "keeper" ? "keeper" : role === "apart" || role === "stays" ? "apart" : "";
  return tile(asImage(m), {
    cls,
    caption: [h("span", { class: role === "keeper" ? "badge keep" : role === "dup" ? "badge" : "badge muted-badge" }, label),
      role === "dup" ? h("span", { class: "dims", title: "coarse: NCC and RMSE of 12×12 thumbnails · fine: lowest tile SSIM at up to 256 px" }, `ssim ${m.ssim.toFixed(3)} · ${fmt.size(m.width, m.height)}`)
        : h("span", { class: "dims" }, `${fmt.size(m.width, m.height)} · ${fmt.bytes(m.bytes)}`)],
    onActivate: role === "dup" || role === "apart" ? () => openReview(g, m) : undefined,
    label: role === "dup" ? `Review ${m.path} against the keeper` : undefined,
    extra: buttons.length ? [h("div", { class: "tile-actions" }, buttons)] : [],
  });
}

function groupCard(g, i) {
  const dups = g.members.slice(1);
  const head = h("div", { class: "group-head" },
    h("h2", {}, `Group ${i + 1}`, h("span", { class: "muted" }, ` · ${g.members.length} files`)),
    h("span", { class: "muted why" }, g.chosen ? "keeper chosen by you" : `kept: ${g.kept_because}`));
  if (state.dups.can_move) {
    head.append(h("button", { type: "button", class: "button", "data-action": "move-group", onclick: () => startMoves([g.id]) },
      `Move ${dups.length} duplicate${dups.length === 1 ? "" : "s"}`));
  }
  const tiles = [memberTile(g, g.members[0], "keeper"), ...dups.map((m) => memberTile(g, m, "dup"))];
  const extra = [];
  if (g.apart.length) extra.push(h("p", { class: "muted small" }, "Marked not duplicates of the keeper (they stay):"), h("div", { class: "group-tiles" }, g.apart.map((m) => memberTile(g, m, "apart"))));
  if (g.stays.length) extra.push(h("p", { class: "muted small" }, "Not duplicates of the chosen keeper (they stay):"), h("div", { class: "group-tiles" }, g.stays.map((m) => memberTile(g, m, "stays"))));
  return h("section", { class: "group", "aria-label": `Group ${i + 1}`, dataset: { gid: g.id } }, head, h("div", { class: "group-tiles" }, tiles), ...extra);
}

function renderDuplicates(d) {
  $("#dup-mode").replaceChildren(...(d.read_only ? ["Read-only server: nothing can be changed here."]
    : d.can_move ? ["Moves go to the folder the server was started with (", h("code", {}, "--move-to"), ") and can be undone below."]
    : ["To move duplicates from this page, start the server with ", h("code", {}, "--move-to DIR"), "."]));
  $("#dup-move-all").hidden = !(d.can_move && d.state === "done" && d.groups.length);
  const done = renderJob("dup", d, {
    start: "Find duplicates",
    working: "Working… (this can take a while on a large index; the page keeps checking)",
    idle: "Not computed yet for this version of the index.",
    failed: "Finding duplicates failed.",
    empty: ["#dup-groups"],
  });
  if (!done) return;
  $("#dup-move-all").textContent = `Move all ${fmt.int(d.duplicates)} duplicates`;
  $("#dup-groups").replaceChildren(...d.groups.map(groupCard));
  const failures = d.failures.length ? ` · ${fmt.int(d.failures.length)} unreadable` : "";
  const resolved = d.resolved ? ` · ${fmt.int(d.resolved)} resolved` : "";
  setStatus($("#dup-status"), d.groups.length
    ? `${fmt.int(d.groups.length)} group(s), ${fmt.int(d.duplicates)} duplicate(s) among ${fmt.int(d.images)} images · ${d.seconds.toFixed(1)} s${resolved}${failures}`
    : `No duplicates left among ${fmt.int(d.images)} images (${d.seconds.toFixed(1)} s)${resolved}${failures}.`);
}

// -- the review pane: side by side with zoom, swipe, overlay, difference --------------------------------

function openReview(g, m) {
  const pane = $("#review");
  const k = g.members[0];
  const view = (which) => `/api/duplicates/groups/${g.id}/members/${m.id}/${which}`;
  const zoom = h("input", { type: "range", min: "1", max: "8", step: "0.5", value: "1", "aria-label": "Zoom" });
  const sides = [k, m].map((x) => h("div", { class: "review-scroll" }, markTiny(h("img", { src: x.full, alt: x.path, class: "review-full" }))));
  const syncing = { on: false };
  for (const s of sides) {
    s.addEventListener("scroll", () => {
      if (syncing.on) return;
      syncing.on = true;
      for (const o of sides) if (o !== s) { o.scrollLeft = s.scrollLeft; o.scrollTop = s.scrollTop; }
      syncing.on = false;
    });
  }
  zoom.addEventListener("input", () => { for (const s of sides) s.querySelector("img").style.width = `${zoom.value * 100}%`; });
  const sideBySide = h("div", { class: "review-mode", dataset: { mode: "side" } },
    h("div", { class: "review-pair" },
      h("figure", {}, sides[0], h("figcaption", {}, h("span", { class: "badge keep" }, "keep"), ` ${k.path} · ${fmt.size(k.width, k.height)} · ${fmt.bytes(k.bytes)}`)),
      h("figure", {}, sides[1], h("figcaption", {}, h("span", { class: "badge" }, m.kind), ` ${m.path} · ${fmt.size(m.width, m.height)} · ${fmt.bytes(m.bytes)}`))),
    h("label", { class: "zoom" }, "Zoom ", zoom));
  const slider = h("input", { type: "range", min: "0", max: "100", value: "50", "aria-label": "Swipe position" });
  const pic = (src, alt, cls = "") => markTiny(h("img", { src, alt, class: cls }));
  const top = pic(view("member"), `${m.path}, aligned with the keeper`, "stack-top");
  const line = h("div", { class: "swipe-line", "aria-hidden": "true" });
  const setSwipe = () => { top.style.clipPath = `inset(0 0 0 ${slider.value}%)`; line.style.left = `${slider.value}%`; };
  slider.addEventListener("input", setSwipe);
  setSwipe();
  const swipe = h("div", { class: "review-mode", dataset: { mode: "swipe" }, hidden: true },
    h("div", { class: "stack" }, pic(view("keeper"), `${k.path}, the part the copy shows`), top, line),
    h("label", {}, "keeper ◀ ", slider, " ▶ copy"));
  const opacity = h("input", { type: "range", min: "0", max: "100", value: "50", "aria-label": "Copy opacity" });
  const over = pic(view("member"), `${m.path}, aligned, over the keeper`, "stack-top");
  const setOpacity = () => { over.style.opacity = String(opacity.value / 100); };
  opacity.addEventListener("input", setOpacity);
  setOpacity();
  const overlay = h("div", { class: "review-mode", dataset: { mode: "overlay" }, hidden: true },
    h("div", { class: "stack" }, pic(view("keeper"), ""), over),
    h("label", {}, "copy opacity ", opacity));
  const difference = h("div", { class: "review-mode", dataset: { mode: "difference" }, hidden: true },
    h("div", { class: "stack" }, pic(view("keeper"), ""), h("img", { src: view("difference"), alt: "Where the two differ (red: low tile SSIM)", class: "stack-top diff pixelated", "data-testid": "difference" })),
    h("p", { class: "muted small" }, "Red tiles: where the two differ (SSIM of each tile of the fine check, clear where they match)."));
  const modes = [sideBySide, swipe, overlay, difference];
  const tabs = h("div", { class: "review-tabs", role: "tablist" }, [["side", "Side by side"], ["swipe", "Swipe"], ["overlay", "Overlay"], ["difference", "Difference"]].map(([mode, text]) =>
    h("button", { type: "button", role: "tab", class: "chip", "aria-selected": mode === "side" ? "true" : "false", dataset: { mode },
      onclick: (e) => {
        for (const b of tabs.children) b.setAttribute("aria-selected", b === e.currentTarget ? "true" : "false");
        for (const el of modes) el.hidden = el.dataset.mode !== mode;
      } }, text)));
  const scores = h("p", { class: "muted" }, `Relation: ${m.kind} · coarse NCC ${m.ncc.toFixed(3)}, RMSE ${m.rmse.toFixed(3)} · fine SSIM ${m.ssim.toFixed(3)}, colour ${m.colour.toFixed(3)}`);
  pane.replaceChildren(
    h("div", { class: "review-head" }, h("h2", {}, `Group ${state.dups.groups.indexOf(g) + 1}: ${m.path}`),
      h("button", { type: "button", class: "close", "aria-label": "Close the review", onclick: () => { pane.hidden = true; } }, "×")),
    scores, tabs, ...modes);
  pane.hidden = false;
  pane.scrollIntoView({ block: "nearest" });
}

// -- moves ---------------------------------------------------------------------------------------------

async function startMoves(groups) {
  try {
    await post("/api/moves", { groups, version: state.dups.version });
    pollMoves();
  } catch (err) {
    banner(err.message);
  }
}

async function undoMoves(log) {
  try {
    await post("/api/moves/undo", { log });
    pollMoves();
  } catch (err) {
    banner(err.message);
  }
}

async function loadMoves() {
  try {
    renderMoves(await api("/api/moves"));
  } catch (err) {
    banner(err.message);
  }
}

async function pollMoves() {
  clearTimeout(state.moveTimer);
  const m = await api("/api/moves").catch((err) => { banner(err.message); return null; });
  if (!m) return;
  renderMoves(m);
  if (m.state === "working") state.moveTimer = setTimeout(pollMoves, 300);
  else loadDuplicates();
}

function renderMoves(m) {
  const box = $("#moves");
  box.hidden = !m.move_to;
  if (!m.move_to) return;
  const working = m.state === "working";
  const share = m.total ? m.done / m.total : 0;
  const line = working ? `${m.kind === "undo" ? "Putting back" : "Moving"} ${fmt.int(m.done)} / ${fmt.int(m.total)} files…`
    : m.state === "failed" ? m.error
    : m.state === "done" ? (m.kind === "undo" ? `Put back ${fmt.int(m.restored)} file(s) from ${m.log}.` : `Moved ${fmt.int(m.total)} file(s) to ${m.move_to}; log ${m.log}.`)
    : `Moves go to ${m.move_to}.`;
  box.replaceChildren(
    h("h2", {}, "Moves"),
    h("div", { class: "progress", hidden: !working }, h("div", { class: "bar" }, h("span", { style: { width: `${(share * 100).toFixed(1)}%` } }))),
    h("p", { class: `status ${m.state === "failed" ? "error" : ""}`, role: "status", "data-testid": "move-status" }, line),
    m.logs.length ? h("ul", { class: "logs" }, m.logs.map((l) => h("li", {},
      h("code", {}, l.name), ` · ${fmt.int(l.files)} file(s)${l.created ? ` · ${new Date(l.created).toLocaleString()}` : ""} `,
      m.read_only ? "" : h("button", { type: "button", class: "mini", "data-action": "undo", disabled: working, onclick: () => undoMoves(l.name) }, "Undo")))) : "");
}

// ------------------------------------------------------------------------------------------------------
// Inspect: what in the collection will hurt a model

async function loadInspect(start = false) {
  clearTimeout(state.inspectTimer);
  try {
    const d = await api("/api/inspect", start ? { method: "POST" } : {});
    renderInspect(d);
    if (d.state === "working" && params().view === "inspect") state.inspectTimer = setTimeout(() => loadInspect(), 600);
  } catch (err) {
    setStatus($("#inspect-status"), err.message, "error");
  }
}

function findingTile(f) {
  const image = { id: f.id, path: f.path, thumb: f.thumb || "" };
  const ev = f.evidence || {};
  const detail = f.other_path ? `${ev.relation || ""}${ev.label && ev.other_label && ev.label !== ev.other_label ? ` · ${ev.label} vs ${ev.other_label}` : ""}${ev.split && ev.other_split && ev.split !== ev.other_split ? ` · ${ev.split} ← ${ev.other_split}` : ""}`
    : f.kind === "outlier" ? `${ev.test} · ${ev.distance}` : `${ev.value} (line ${ev.threshold})`;
  const extra = f.other_path ? [h("div", { class: "other" }, h("img", { src: f.other_thumb || "", alt: `copy of ${f.other_path}`, loading: "lazy" }), h("span", { class: "path", title: f.other_path }, `~ ${f.other_path}`))] : [];
  return tile(image, { cls: f.other_path ? "finding copy-of" : "finding", caption: [h("span", { class: "dims", title: JSON.stringify(ev) }, detail)], extra });
}

function renderInspect(d) {
  const done = renderJob("inspect", d, {
    start: "Inspect the collection",
    working: "Working… (the page keeps checking)",
    idle: "Not inspected yet for this version of the index.",
    failed: "Inspecting failed.",
    empty: ["#inspect-counts", "#inspect-kinds"],
  });
  if (!done) return;
  const total = Object.values(d.counts).reduce((a, b) => a + b, 0);
  setStatus($("#inspect-status"), `${fmt.int(d.images)} images inspected in ${d.seconds.toFixed(1)} s · ${fmt.int(total)} finding(s)${d.notes.length ? ` · ${d.notes.join(" · ")}` : ""}`);
  $("#inspect-counts").replaceChildren(...Object.entries(d.counts).map(([kind, n]) =>
    h(n ? "a" : "span", { class: `kind-chip${n ? "" : " none"}`, href: n ? `#/inspect?kind=${kind}` : undefined, "data-kind": kind,
      onclick: n ? (e) => { e.preventDefault(); document.getElementById(`kind-${kind}`)?.scrollIntoView({ block: "start" }); } : undefined },
    kind, h("b", {}, fmt.int(n)))));
  const byKind = {};
  for (const f of d.findings) (byKind[f.kind] ||= []).push(f);
  $("#inspect-kinds").replaceChildren(...Object.entries(byKind).map(([kind, fs]) =>
    h("section", { class: "group", id: `kind-${kind}`, "aria-label": kind },
      h("div", { class: "group-head" }, h("h2", {}, kind), h("span", { class: "muted" }, `${fmt.int(d.counts[kind])} image(s)${d.counts[kind] > fs.length ? `, the worst ${fs.length} shown` : ""}`)),
      h("div", { class: "group-tiles" }, fs.map(findingTile)))));
}

// ------------------------------------------------------------------------------------------------------
// Index overview

function renderInfo(info) {
  const s = info.search;
  const structure = s
    ? [s.factory, s.reason, s.nprobe ? `nprobe ${s.nprobe} of ${fmt.int(s.nlist)} lists` : "", s.tuned_recall_at_10 ? `tuned recall@10 ${s.tuned_recall_at_10.toFixed(3)}` : "",
      `${fmt.int(s.ntotal)} vectors (${fmt.int(s.pending)} pending, ${fmt.int(s.dead)} dead)`, s.built_at ? `built ${fmt.when(s.built_at)}` : ""].filter(Boolean).join(" · ")
    : "none (no images)";
  const p = info.preprocessing;
  const rows = [
    ["Images", `${fmt.int(info.images)} searchable${info.failed ? `, ${fmt.int(info.failed)} could not be read` : ""}`],
    ...(info.skipped.length ? [["Skipped", info.skipped.join("\n")]] : []),
    ["Formats", info.formats.join(", ")],
    ["Folder", info.root],
    ["Index", info.location],
    ["Model", `${info.model}${info.cifar_stem ? " (CIFAR stem)" : ""}, ${info.dim}-d features, ${info.precision}`],
    ["Weights", `${info.weights}`],
    ["Fingerprint", info.fingerprint],
    ["Preprocessing", `resize ${p.resize_size}, crop ${p.crop_size}, ${p.interpolation}; mean ${fmtList(p.mean)}, std ${fmtList(p.std)}`],
    ["Search structure", structure],
    ["Built", fmt.when(info.created)],
    ["Updated", fmt.when(info.updated)],
    ["Size on disk", fmt.bytes(info.disk_bytes)],
    ["Uploads", info.uploads.enabled ? `up to ${fmt.bytes(info.uploads.max_bytes)} and ${fmt.int(info.uploads.max_pixels)} pixels, kept in memory only` : `off: ${info.uploads.reason}`],
  ];
  $("#info").replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

function fmtList(xs) {
  return xs ? `(${xs.map((x) => x.toFixed(4)).join(", ")})` : "—";
}

async function loadInfo() {
  try {
    const info = await api("/api/info");
    state.info = info;
    const structure = info.search ? info.search.factory : "empty";
    $("#summary").textContent = `${fmt.int(info.images)} images · ${info.model}${info.cifar_stem ? " (CIFAR)" : ""} · ${structure}`;
    renderInfo(info);
    const drop = $("#drop");
    drop.dataset.ready = String(info.uploads.enabled && info.uploads.ready);
    if (!info.uploads.enabled) {
      drop.classList.add("disabled");
      $("#drop small").textContent = `Uploads are off: ${info.uploads.reason}`;
    } else if (!info.uploads.ready) {
      $("#drop small").textContent = "Loading the model… (an upload now waits for it)";
      clearTimeout(state.infoTimer);
      state.infoTimer = setTimeout(loadInfo, 1000);
    } else {
      $("#drop small").textContent = DROP_HINT;
    }
  } catch (err) {
    $("#summary").textContent = "index unavailable";
    banner(err.message);
  }
}

// ------------------------------------------------------------------------------------------------------
// Routing

function showView(view) {
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
  for (const a of document.querySelectorAll(".tabs a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

let galleryLoaded = false;
let pickerLoaded = false;

function route() {
  const { view, q } = params();
  const known = ["search", "compare", "duplicates", "inspect", "index"];
  const v = known.includes(view) ? view : "search";
  showView(v);
  clearTimeout(state.dupTimer);
  clearTimeout(state.inspectTimer);
  if (v === "search") {
    if (q.get("k")) $("#k").value = q.get("k");
    if (q.get("metric")) $("#metric").value = q.get("metric");
    if (!galleryLoaded) { galleryLoaded = true; loadGallery(); }
    const { k, metric } = searchOptions();
    if (q.get("id")) runSearchId(q.get("id"), k, metric);
    else if (q.get("upload") && state.upload) runSearchUpload(state.upload);
    else {
      state.searchToken++;
      $("#query").hidden = true;
      $("#results").replaceChildren();
      setStatus($("#search-status"), "");
    }
  } else if (v === "compare") {
    for (const side of ["a", "b"]) {
      const value = q.get(side);
      const current = state.compare[side];
      if (value && value !== "upload" && !(current && current.kind === "indexed" && String(current.id) === value)) {
        state.compare[side] = { kind: "indexed", id: Number(value), path: `id ${value}`, thumb: `/api/images/${encodeURIComponent(value)}/thumb` };
      } else if (!value) state.compare[side] = null;
      else if (value === "upload" && !(current && current.kind === "upload")) state.compare[side] = null;
    }
    for (const side of ["a", "b"]) {
      const s = state.compare[side];
      if (s && s.kind === "indexed" && s.path.startsWith("id ")) hydrate(side, s.id);
    }
    if (!pickerLoaded) { pickerLoaded = true; loadPicker(); }
    runCompare();
  } else if (v === "duplicates") {
    loadDuplicates();
  } else if (v === "inspect") {
    loadInspect();
  } else if (v === "index") {
    loadInfo();
  }
}

async function hydrate(side, id) {
  try {
    const image = await api(`/api/images/${encodeURIComponent(id)}`);
    const s = state.compare[side];
    if (s && s.kind === "indexed" && s.id === id) {
      Object.assign(s, image);
      renderSlot(side);
    }
  } catch {
    /* runCompare reports the error */
  }
}

// ------------------------------------------------------------------------------------------------------
// Wiring

function firstImage(list) {
  return Array.from(list || [])[0] || null;
}

function droppedFile(event) {
  const dt = event.dataTransfer;
  if (!dt) return null;
  return firstImage(dt.files);
}

function init() {
  $("#file").addEventListener("change", (e) => searchFile(e.target.files[0]));
  const drop = $("#drop");
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("#file").click(); }
  });
  for (const el of [drop, document.body]) {
    el.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    el.addEventListener("dragleave", (e) => { if (e.target === drop) drop.classList.remove("over"); });
  }
  document.body.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = droppedFile(e);
    if (!file) return;
    const { view } = params();
    if (view === "compare") {
      const slot = e.target.closest && e.target.closest(".slot");
      setUploadSide(slot ? slot.dataset.side : document.querySelector("input[name=target]:checked").value, file);
    } else searchFile(file);
  });
  document.addEventListener("paste", (e) => {
    const file = firstImage(e.clipboardData && e.clipboardData.files);
    if (file) searchFile(file);
  });
  for (const id of ["#k", "#metric"]) {
    $(id).addEventListener("change", () => {
      const { q } = params();
      if (q.get("id")) searchId(q.get("id"));
      else if (q.get("upload") && state.upload) go("search", { upload: Date.now().toString(36), ...searchOptions() });
    });
  }
  $("#search-controls").addEventListener("submit", (e) => e.preventDefault());
  let filterTimer = null;
  $("#filter").addEventListener("input", (e) => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      Object.assign(state.gallery, { q: e.target.value.trim(), offset: 0, order: e.target.value.trim() ? "path" : state.gallery.order });
      loadGallery();
    }, 250);
  });
  $("#shuffle").addEventListener("click", () => { Object.assign(state.gallery, { order: "random", seed: randomSeed(), offset: 0 }); loadGallery(); });
  $("#by-path").addEventListener("click", () => { Object.assign(state.gallery, { order: "path", offset: 0 }); loadGallery(); });
  $("#prev").addEventListener("click", () => { state.gallery.offset = Math.max(0, state.gallery.offset - state.gallery.limit); loadGallery(); });
  $("#next").addEventListener("click", () => { state.gallery.offset += state.gallery.limit; loadGallery(); });
  $("#pick-shuffle").addEventListener("click", () => { state.pickSeed = randomSeed(); loadPicker(); });
  $("#dup-start").addEventListener("click", () => loadDuplicates(true));
  $("#dup-move-all").addEventListener("click", () => startMoves(null));
  $("#inspect-start").addEventListener("click", () => loadInspect(true));
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && !["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) {
      e.preventDefault();
      $("#filter").focus();
    }
  });
  window.addEventListener("hashchange", route);
  loadInfo();
  route();
}

init();
