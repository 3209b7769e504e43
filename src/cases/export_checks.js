const a = relops.args;
const pr = context.providerResponse || {};
const facts = (pr.metadata && pr.metadata.relops) || null;
const result = (pass, reason) => ({ pass: pass, score: pass ? 1 : 0, reason: "relops " + relops.kind + ": " + reason });
const out = typeof output === "string" ? output : null;
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const eq = (x, y) => {
  if (Array.isArray(x) && Array.isArray(y)) return x.length === y.length && x.every((v, i) => eq(v, y[i]));
  if (isObj(x) && isObj(y)) {
    const kx = Object.keys(x), ky = Object.keys(y);
    return kx.length === ky.length && kx.every((k) => k in y && eq(x[k], y[k]));
  }
  return x === y;
};
if (relops.kind === "placeholder") {
  return result(false, a.what + " cannot be checked by promptfoo (" + a.why + "): run relops gate for it");
}
if (["contains", "equals", "pointer", "similar"].includes(relops.kind) && out === null) {
  return result(false, "no output to check");
}
if (["tool", "tool_errors", "tokens"].includes(relops.kind) && facts === null) {
  return result(false, "the provider's response carries no relops facts (not the exported transform?)");
}
if (relops.kind === "contains") {
  const found = a.fold ? out.toLowerCase().includes(a.value.toLowerCase()) : out.includes(a.value);
  return result(found !== a.not, (found ? "output contains " : "output lacks ") + JSON.stringify(a.value));
}
if (relops.kind === "equals") {
  return result(out.trim() === a.value.trim(), "output " + JSON.stringify(out.slice(0, 60)) + " vs " + JSON.stringify(a.value));
}
if (relops.kind === "pointer") {
  let doc;
  try { doc = JSON.parse(out); } catch (e) { return result(false, "output is not JSON: " + e.message); }
  let v = doc;
  if (a.pointer !== "") {
    for (const raw of a.pointer.slice(1).split("/")) {
      const k = raw.replace(/~1/g, "/").replace(/~0/g, "~");
      if (v === null || typeof v !== "object" || !(k in v)) return result(false, "nothing at " + a.pointer);
      v = v[k];
    }
  }
  return result(eq(v, a.value), a.pointer + " is " + JSON.stringify(v) + ", expected " + JSON.stringify(a.value));
}
if (relops.kind === "tool" || relops.kind === "tool_errors") {
  const argsMatch = (seen, want) => {
    if (seen === null || seen === undefined) return false;
    let have;
    try { have = JSON.parse(seen); } catch (e) { return typeof want === "string" && seen === want; }
    if (isObj(have) && isObj(want)) return Object.keys(want).every((k) => k in have && eq(have[k], want[k]));
    return eq(have, want);
  };
  if (relops.kind === "tool_errors") {
    const bad = facts.tools.filter((t) => t.error).map((t) => t.name);
    return result(bad.length === 0, bad.length ? "failed tool calls: " + bad.join(", ") : facts.tools.length + " tool calls, none failed");
  }
  const n = facts.tools.filter((t) => t.name === a.name && (a.args === null || argsMatch(t.args, a.args))).length;
  return result((n > 0) !== a.not, a.name + " called " + n + " time(s)");
}
if (relops.kind === "tokens") {
  const t = facts.tokens_out;
  if (t === null || t === undefined) return result(false, "no output tokens recorded");
  return result(t <= a.max, "output tokens " + t + " (max " + a.max + ")");
}
if (relops.kind === "similar") {
  // relops' word-level ratio: 2 x words in common, in order (LCS) / all words.
  const words = (s) => s.toLowerCase().split(/[^\p{Alphabetic}\p{N}]+/u).filter((w) => w.length > 0);
  const x = words(out), y = words(a.reference);
  let ratio = 1;
  if (!eq(x, y)) {
    let prev = new Array(y.length + 1).fill(0);
    for (let i = 1; i <= x.length; i++) {
      const row = new Array(y.length + 1).fill(0);
      for (let j = 1; j <= y.length; j++) {
        row[j] = x[i - 1] === y[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], row[j - 1]);
      }
      prev = row;
    }
    ratio = (2 * prev[y.length]) / (x.length + y.length);
  }
  return result(ratio >= a.threshold, "similarity " + ratio.toFixed(2) + " (threshold " + a.threshold + ")");
}
return result(false, "unknown check " + relops.kind);
