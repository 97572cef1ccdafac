// The API's documentation, drawn from /openapi.json with no library: each operation, its
// parameters, its form fields and its answers.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child);  // text stays text
  return node;
}

// A docstring's ``literal`` as code, the rest as text.
function prose(tag, text) {
  const node = el(tag, { class: "description" });
  text.split(/``([^`]+)``/).forEach((part, i) => node.append(i % 2 ? el("code", {}, part) : part));
  return node;
}

function fieldRows(entries) {
  const table = el("table", { class: "fields" });
  for (const [name, type, required, description] of entries) {
    table.append(el("tr", {}, el("td", {}, el("code", {}, name)), el("td", {}, type),
      el("td", {}, required ? "required" : "optional"), prose("td", description || "")));
  }
  return table;
}

async function main() {
  const spec = await (await fetch("/openapi.json")).json();
  const root = document.getElementById("operations");
  root.replaceChildren(el("p", {}, `${spec.info.title} ${spec.info.version}: ${spec.info.summary || ""}`));
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const section = el("section", { class: "operation" });
      section.append(el("h2", {}, el("span", { class: "method" }, method.toUpperCase()), " ", el("code", {}, path)));
      if (op.description || op.summary) section.append(prose("p", op.description || op.summary));
      const params = (op.parameters || []).map((p) => [
        `${p.name} (${p.in})`, (p.schema && (p.schema.type || (p.schema.anyOf || []).map((s) => s.type).join(" | "))) || "", p.required, p.description]);
      if (params.length) section.append(el("h3", {}, "Parameters"), fieldRows(params));
      const form = op.requestBody && op.requestBody.content && op.requestBody.content["multipart/form-data"];
      if (form) {
        const schema = form.schema;
        const required = new Set(schema.required || []);
        section.append(el("h3", {}, "Form fields (multipart/form-data)"), fieldRows(
          Object.entries(schema.properties).map(([name, p]) => [name, p.format || p.type, required.has(name), p.description])));
      }
      const answers = el("ul", { class: "answers" });
      for (const [code, answer] of Object.entries(op.responses || {})) {
        answers.append(el("li", {}, el("code", {}, code), " ", prose("span", answer.description || "")));
      }
      section.append(el("h3", {}, "Answers"), answers);
      root.append(section);
    }
  }
}

main().catch((error) => {
  document.getElementById("operations").replaceChildren(el("p", { class: "error" }, `cannot read /openapi.json: ${error}`));
});
