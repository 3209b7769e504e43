(json, text, context) => {
  // Exported by relops: the replay target's response pointers (RFC 6901).
  const P = __POINTERS__;
  const at = (p) => {
    if (p === null || p === undefined) return undefined;
    let v = json;
    if (p === "") return v;
    for (const raw of p.slice(1).split("/")) {
      const k = raw.replace(/~1/g, "/").replace(/~0/g, "~");
      if (v === null || typeof v !== "object" || !(k in v)) return undefined;
      v = v[k];
    }
    return v;
  };
  const num = (p) => {
    const v = at(p);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number") throw new Error("response value at " + JSON.stringify(p) + " is not a number: " + JSON.stringify(v));
    return v;
  };
  const out = at(P.output);
  if (out === undefined) throw new Error("response has no output at " + JSON.stringify(P.output));
  if (out === null) throw new Error("response output at " + JSON.stringify(P.output) + " is null");
  const output = typeof out === "string" ? out : JSON.stringify(out);
  // Spans as relops reads them (ingest::semconv): tool spans, their names, arguments
  // and errors; a failed root span is the workflow's own error.
  const spans = [];
  const doc = P.spans ? at(P.spans) : undefined;
  if (doc && typeof doc === "object") {
    for (const rs of doc.resourceSpans || []) {
      for (const ss of rs.scopeSpans || []) {
        for (const s of ss.spans || []) spans.push(s);
      }
    }
  }
  const scalar = (v) => {
    if (!v || typeof v !== "object") return undefined;
    if ("stringValue" in v) return v.stringValue;
    if ("intValue" in v) return String(v.intValue);
    if ("doubleValue" in v) return String(v.doubleValue);
    if ("boolValue" in v) return String(v.boolValue);
    return undefined;
  };
  const attr = (s, keys) => {
    for (const k of keys) {
      const kv = (s.attributes || []).find((a) => a.key === k);
      const v = kv ? scalar(kv.value) : undefined;
      if (v !== undefined) return v;
    }
    return undefined;
  };
  const failed = (s) => {
    const c = s.status ? s.status.code : undefined;
    return c === 2 || c === "STATUS_CODE_ERROR" || c === "2";
  };
  const isTool = (s) => {
    const oi = attr(s, ["openinference.span.kind"]);
    if (oi !== undefined) return oi.toUpperCase() === "TOOL";
    return attr(s, ["gen_ai.operation.name"]) === "execute_tool";
  };
  const tools = spans.filter(isTool).map((s) => ({
    name: attr(s, ["tool.name", "gen_ai.tool.name"]) ?? s.name,
    args: attr(s, ["tool.parameters", "gen_ai.tool.call.arguments", "input.value"]) ?? null,
    error: failed(s),
  }));
  const root = spans.find((s) => !s.parentSpanId && failed(s));
  if (root) throw new Error((root.status && root.status.message) || "the workflow reported an error");
  const tokensIn = num(P.tokens_in);
  const tokensOut = num(P.tokens_out);
  const r = { output: output, metadata: { relops: { tools: tools, tokens_out: tokensOut ?? null } } };
  const latency = num(P.latency_ms);
  if (latency !== undefined) r.latencyMs = latency;
  const cost = num(P.cost_usd);
  if (cost !== undefined) r.cost = cost;
  if (tokensIn !== undefined || tokensOut !== undefined) {
    r.tokenUsage = { prompt: tokensIn ?? 0, completion: tokensOut ?? 0, total: (tokensIn ?? 0) + (tokensOut ?? 0) };
  }
  return r;
}
