// The API docs page: renders this server's OpenAPI document (no third-party script).
"use strict";
(async () => {
  const el = (tag, text) => {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  const root = document.querySelector("#docs");
  let document_;
  try {
    document_ = await (await fetch("/openapi.json")).json();
  } catch (error) {
    root.textContent = "Could not read /openapi.json: " + error;
    return;
  }
  root.textContent = "";
  root.append(el("p", document_.info.title + " " + document_.info.version));
  root.append(el("p", document_.info.description || ""));
  for (const [path, operations] of Object.entries(document_.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const section = el("section");
      section.id = (method + path).replace(/[^A-Za-z0-9]+/g, "-");
      section.append(el("h2", method.toUpperCase() + " " + path));
      if (operation.summary) section.append(el("p", operation.summary));
      if (operation.description) section.append(el("pre", operation.description));
      const parameters = operation.parameters || [];
      if (parameters.length) {
        const table = el("table");
        const head = el("tr");
        for (const title of ["parameter", "in", "required", "description"]) head.append(el("th", title));
        table.append(head);
        for (const parameter of parameters) {
          const row = el("tr");
          for (const value of [parameter.name, parameter.in, parameter.required ? "yes" : "no", parameter.description || ""]) row.append(el("td", value));
          table.append(row);
        }
        section.append(table);
      }
      const body = operation.requestBody && operation.requestBody.content;
      if (body) section.append(el("p", "Body: " + Object.keys(body).join(", ")));
      section.append(el("p", "Answers: " + Object.keys(operation.responses || {}).join(", ")));
      root.append(section);
    }
  }
})();
