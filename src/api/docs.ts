/** A self-contained HTML rendering of the OpenAPI document (no scripts, no CDN: works offline). */
const esc = (s: unknown) =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

interface Doc {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, { summary?: string; description?: string; requestBody?: unknown; responses?: Record<string, { description?: string }> }>>;
  components?: { schemas?: Record<string, unknown> };
}

export function renderDocs(doc: Doc): string {
  const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => `
      <section>
        <h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>
        <p>${esc(op.summary)} <em>${esc(op.description)}</em></p>
        <p class="r">${Object.entries(op.responses ?? {}).map(([s, r]) => `<b>${esc(s)}</b> ${esc(r.description)}`).join(' · ')}</p>
        ${op.requestBody ? `<details><summary>request body</summary><pre>${esc(JSON.stringify(op.requestBody, null, 2))}</pre></details>` : ''}
      </section>`),
  );
  const schemas = Object.entries(doc.components?.schemas ?? {}).map(
    ([name, s]) => `<details><summary>${esc(name)}</summary><pre>${esc(JSON.stringify(s, null, 2))}</pre></details>`,
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(doc.info.title)}</title>
<style>body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{font:13px ui-monospace,monospace}pre{background:#f5f5f5;padding:.6rem;overflow:auto}
section{border-top:1px solid #ddd;padding:.3rem 0}.m{display:inline-block;min-width:4.2rem;padding:.1rem .3rem;border-radius:3px;color:#fff;font-size:12px;text-align:center}
.get{background:#2b7bb9}.post{background:#2f9e44}.patch{background:#e67700}.delete{background:#c92a2a}.r{color:#555;font-size:13px}</style></head>
<body><h1>${esc(doc.info.title)} <small>${esc(doc.info.version)}</small></h1><p>${esc(doc.info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Authenticate with <code>Authorization: Bearer &lt;api key&gt;</code>.</p>
<h2>Endpoints</h2>${ops.join('')}<h2>Schemas</h2>${schemas.join('')}</body></html>`;
}
