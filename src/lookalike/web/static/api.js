// The API reference: /api/openapi.json rendered as a page (Swagger UI would load from a CDN).

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

function typeOf(schema, spec) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map((s) => typeOf(s, spec)).join(" | ");
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.type === "array") return `${typeOf(schema.items, spec)}[]`;
  if (schema.format === "binary") return "file";
  return schema.type || "any";
}

function limits(schema) {
  const s = schema || {};
  const out = [];
  if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
  if (s.maximum !== undefined) out.push(`≤ ${s.maximum}`);
  if (s.maxLength !== undefined) out.push(`≤ ${s.maxLength} chars`);
  if (s.default !== undefined) out.push(`default ${JSON.stringify(s.default)}`);
  return out.join(", ");
}

function endpoint(path, method, op, spec) {
  const params = (op.parameters || []).map((p) => h("tr", {},
    h("td", {}, h("code", {}, p.name), p.required ? " *" : ""), h("td", {}, p.in), h("td", {}, typeOf(p.schema, spec)),
    h("td", { class: "muted" }, [limits(p.schema), p.description || p.schema?.description || ""].filter(Boolean).join(" · "))));
  const body = op.requestBody ? Object.entries(op.requestBody.content).map(([type, c]) =>
    h("li", {}, h("code", {}, type), c.schema?.properties ? ` — fields ${Object.keys(c.schema.properties).join(", ")}` : "")) : [];
  const responses = Object.entries(op.responses || {}).map(([code, r]) => {
    const types = Object.entries(r.content || {}).map(([t, c]) => `${t}${c.schema ? ` (${typeOf(c.schema, spec)})` : ""}`);
    return h("li", {}, h("strong", {}, code), ` ${r.description || ""}`, types.length ? h("span", { class: "muted" }, ` — ${types.join(", ")}`) : "");
  });
  return h("section", { class: "group api-endpoint" },
    h("h2", {}, h("span", { class: `badge method ${method}` }, method.toUpperCase()), " ", h("code", {}, path), " ", h("span", { class: "muted" }, op.summary || "")),
    op.description ? h("p", { class: "hint" }, op.description) : "",
    params.length ? h("table", { class: "scores api-params" }, h("thead", {}, h("tr", {}, h("th", {}, "Parameter"), h("th", {}, "In"), h("th", {}, "Type"), h("th", {}, "Notes"))), h("tbody", {}, params)) : "",
    body.length ? h("div", {}, h("p", {}, "Body:"), h("ul", {}, body)) : "",
    h("p", {}, "Responses:"), h("ul", {}, responses));
}

function model(name, schema, spec) {
  const rows = Object.entries(schema.properties || {}).map(([field, s]) => h("tr", {},
    h("td", {}, h("code", {}, field)), h("td", {}, typeOf(s, spec)), h("td", { class: "muted" }, s.description || "")));
  return h("section", { class: "group api-model", id: `model-${name}` },
    h("h2", {}, h("code", {}, name)), schema.description ? h("p", { class: "hint" }, schema.description) : "",
    h("table", { class: "scores api-params" }, h("tbody", {}, rows)));
}

async function main() {
  const spec = await (await fetch("/api/openapi.json")).json();
  document.querySelector("#summary").textContent = `${spec.info.title} ${spec.info.version} · OpenAPI ${spec.openapi}`;
  const list = document.querySelector("#endpoints");
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) list.append(endpoint(path, method, op, spec));
  }
  const models = document.querySelector("#models");
  for (const [name, schema] of Object.entries(spec.components?.schemas || {})) models.append(model(name, schema, spec));
}

main().catch((err) => document.querySelector("#endpoints").append(h("p", { class: "status error" }, String(err))));
