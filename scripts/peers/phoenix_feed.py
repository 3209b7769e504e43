#!/usr/bin/env python3
"""Send spans described by a JSON file to a running Phoenix, through the
OpenTelemetry Python SDK and its OTLP/HTTP exporter, then wait until Phoenix
shows every one of them in its REST API.

Run it with the Phoenix venv's python (scripts/peers/install.sh makes it):

    /opt/relops-peers/phoenix-venv/bin/python scripts/peers/phoenix_feed.py \
        --project my-project --spans spans.json [--base-url http://127.0.0.1:6006]

Input (JSON):

    {"traces": [{"trace_id": "<32 hex>", "spans": [
        {"span_id": "<16 hex>", "parent_id": null | "<16 hex>", "name": "...",
         "start_ns": 1732000000000000000, "end_ns": 1732000000500000000,
         "status": "ok" | "error" | "unset", "status_message": "...",
         "kind": "internal" (optional OTel span kind: internal|server|client|producer|consumer),
         "attributes": {"openinference.span.kind": "LLM", "llm.token_count.prompt": 12, ...},
         "events": [{"name": "exception", "time_ns": ..., "attributes": {...}}] (optional),
         "resource": {"service.name": "support-bot", "service.version": "v2"}}]}]}

Trace ids, span ids, parent ids and start/end times are sent exactly as
given: span ids come from a scripted IdGenerator, parents are given as remote
span contexts, times are passed to start_span()/end(). Attribute values may be
str, int, float, bool or homogeneous lists of those. Spans are grouped by
their resource (one TracerProvider per distinct resource);
`openinference.project.name` is set from --project on every resource, which
is how Phoenix picks the project.

Exit 0 when every span id is visible in
GET /v1/projects/{project}/spans; 1 on export failure or timeout; 2 on bad
input.

With --collector URL the same spans go, through the same SDK and exporter, to
that OTLP/HTTP traces endpoint instead (e.g. `relops collect`'s
http://127.0.0.1:PORT/v1/traces), and the script exits 0 once the export
succeeded: the way to send one set of traces both ways.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

PROJECT_ATTR = "openinference.project.name"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
KINDS = {
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}
STATUSES = {"ok": StatusCode.OK, "error": StatusCode.ERROR, "unset": StatusCode.UNSET}


class InputError(Exception):
    pass


class ScriptedIds(IdGenerator):
    """Hands out exactly the ids we set just before each start_span()."""

    def __init__(self) -> None:
        self.next_span_id: int | None = None
        self.next_trace_id: int | None = None

    def generate_span_id(self) -> int:
        if self.next_span_id is None:
            raise RuntimeError("span id not scripted")
        value, self.next_span_id = self.next_span_id, None
        return value

    def generate_trace_id(self) -> int:
        if self.next_trace_id is None:
            raise RuntimeError("trace id not scripted")
        value, self.next_trace_id = self.next_trace_id, None
        return value


class RecordingExporter(SpanExporter):
    """Delegates to the OTLP/HTTP exporter and remembers failed batches."""

    def __init__(self, inner: OTLPSpanExporter) -> None:
        self.inner = inner
        self.exported = 0
        self.failed = 0

    def export(self, spans):  # type: ignore[no-untyped-def]
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        # Shared by several TracerProviders (one per resource), each of which
        # calls shutdown(); the inner exporter is shut down once, by send().
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def check_value(where: str, value: Any) -> Any:
    scalar = (str, int, float, bool)
    if isinstance(value, scalar):
        return value
    if isinstance(value, list):
        if not all(isinstance(v, scalar) for v in value):
            raise InputError(f"{where}: list items must be str/int/float/bool")
        if len({type(v) for v in value}) > 1:
            raise InputError(f"{where}: list items must all have the same type")
        return tuple(value)
    raise InputError(f"{where}: unsupported attribute value {value!r}")


def check_attrs(where: str, attrs: Any) -> dict[str, Any]:
    if attrs is None:
        return {}
    if not isinstance(attrs, dict):
        raise InputError(f"{where}: attributes must be an object")
    return {str(k): check_value(f"{where}.{k}", v) for k, v in attrs.items()}


def check_ns(where: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InputError(f"{where}: must be a positive integer of nanoseconds")
    return value


def load_spans(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("traces"), list):
        raise InputError('top level must be {"traces": [...]}')
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for ti, tr in enumerate(doc["traces"]):
        trace_id = str(tr.get("trace_id", "")).lower()
        if not HEX32.match(trace_id) or int(trace_id, 16) == 0:
            raise InputError(f"traces[{ti}].trace_id must be 32 hex digits, not all zero")
        for si, sp in enumerate(tr.get("spans") or []):
            where = f"traces[{ti}].spans[{si}]"
            span_id = str(sp.get("span_id", "")).lower()
            if not HEX16.match(span_id) or int(span_id, 16) == 0:
                raise InputError(f"{where}.span_id must be 16 hex digits, not all zero")
            if span_id in seen:
                raise InputError(f"{where}.span_id {span_id} is repeated")
            seen.add(span_id)
            parent = sp.get("parent_id")
            if parent is not None:
                parent = str(parent).lower()
                if not HEX16.match(parent) or int(parent, 16) == 0:
                    raise InputError(f"{where}.parent_id must be null or 16 hex digits")
            start = check_ns(f"{where}.start_ns", sp.get("start_ns"))
            end = check_ns(f"{where}.end_ns", sp.get("end_ns"))
            if end < start:
                raise InputError(f"{where}: end_ns < start_ns")
            status = str(sp.get("status", "unset")).lower()
            if status not in STATUSES:
                raise InputError(f"{where}.status must be ok, error or unset")
            kind = str(sp.get("kind", "internal")).lower()
            if kind not in KINDS:
                raise InputError(f"{where}.kind must be one of {sorted(KINDS)}")
            resource = check_attrs(f"{where}.resource", sp.get("resource"))
            events = []
            for ei, ev in enumerate(sp.get("events") or []):
                events.append(
                    {
                        "name": str(ev["name"]),
                        "time_ns": check_ns(f"{where}.events[{ei}].time_ns", ev.get("time_ns")),
                        "attributes": check_attrs(
                            f"{where}.events[{ei}].attributes", ev.get("attributes")
                        ),
                    }
                )
            out.append(
                {
                    "trace_id": trace_id,
                    "span_id": span_id,
                    "parent_id": parent,
                    "name": str(sp.get("name", "")),
                    "start_ns": start,
                    "end_ns": end,
                    "status": status,
                    "status_message": sp.get("status_message") or None,
                    "kind": kind,
                    "attributes": check_attrs(f"{where}.attributes", sp.get("attributes")),
                    "events": events,
                    "resource": resource,
                }
            )
    return out


def send(spans: list[dict[str, Any]], project: str, endpoint: str) -> RecordingExporter:
    exporter = RecordingExporter(OTLPSpanExporter(endpoint=endpoint, timeout=30))
    ids = ScriptedIds()
    providers: dict[str, tuple[TracerProvider, trace_api.Tracer]] = {}

    def tracer_for(resource: dict[str, Any]) -> trace_api.Tracer:
        attrs = dict(resource)
        attrs[PROJECT_ATTR] = project
        key = json.dumps(attrs, sort_keys=True, default=list)
        if key not in providers:
            # Resource(...) rather than Resource.create(...): no SDK/telemetry
            # defaults merged in, the resource is exactly what the file says.
            provider = TracerProvider(resource=Resource(attrs), id_generator=ids)
            provider.add_span_processor(
                BatchSpanProcessor(exporter, max_export_batch_size=256, schedule_delay_millis=200)
            )
            providers[key] = (provider, provider.get_tracer("relops.phoenix_feed"))
        return providers[key][1]

    for sp in spans:
        tracer = tracer_for(sp["resource"])
        trace_id = int(sp["trace_id"], 16)
        if sp["parent_id"] is None:
            # A context holding an invalid span: the SDK starts a new trace
            # and asks the IdGenerator for the trace id.
            ctx = trace_api.set_span_in_context(trace_api.INVALID_SPAN)
            ids.next_trace_id = trace_id
        else:
            parent_ctx = SpanContext(
                trace_id=trace_id,
                span_id=int(sp["parent_id"], 16),
                is_remote=False,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
            ctx = trace_api.set_span_in_context(NonRecordingSpan(parent_ctx))
        ids.next_span_id = int(sp["span_id"], 16)
        span = tracer.start_span(
            sp["name"],
            context=ctx,
            kind=KINDS[sp["kind"]],
            attributes=sp["attributes"],
            start_time=sp["start_ns"],
        )
        got = span.get_span_context()
        if (got.trace_id, got.span_id) != (trace_id, int(sp["span_id"], 16)):
            raise RuntimeError(f"ids were not kept for span {sp['span_id']}")
        for ev in sp["events"]:
            span.add_event(ev["name"], attributes=ev["attributes"], timestamp=ev["time_ns"])
        code = STATUSES[sp["status"]]
        if code is StatusCode.ERROR:
            span.set_status(Status(code, sp["status_message"]))
        elif code is StatusCode.OK:
            span.set_status(Status(code))  # OTel drops descriptions on OK
        span.end(end_time=sp["end_ns"])

    for provider, _ in providers.values():
        if not provider.force_flush(timeout_millis=30000):
            raise RuntimeError("force_flush timed out")
    for provider, _ in providers.values():
        provider.shutdown()
    exporter.inner.shutdown()
    return exporter


def visible_span_ids(base_url: str, project: str) -> set[str] | None:
    """All span ids Phoenix lists for the project; None while the project is unknown."""
    seen: set[str] = set()
    cursor: str | None = None
    path = f"{base_url}/v1/projects/{urllib.parse.quote(project, safe='')}/spans"
    while True:
        query = {"limit": "1000"}
        if cursor:
            query["cursor"] = cursor
        url = f"{path}?{urllib.parse.urlencode(query)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise
        for s in body.get("data", []):
            seen.add(s["context"]["span_id"])
        cursor = body.get("next_cursor")
        if not cursor:
            return seen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", required=True, help="Phoenix project name")
    ap.add_argument("--spans", required=True, help="JSON file describing the traces")
    ap.add_argument(
        "--base-url",
        default=f"http://127.0.0.1:{os.environ.get('PHOENIX_PORT', '6006')}",
        help="Phoenix base URL (default http://127.0.0.1:$PHOENIX_PORT or :6006)",
    )
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for visibility")
    ap.add_argument(
        "--collector",
        metavar="URL",
        help="send to this OTLP/HTTP traces endpoint instead of Phoenix; no visibility wait",
    )
    args = ap.parse_args()
    base_url = args.base_url.rstrip("/")
    if "/" in args.project or "?" in args.project or "#" in args.project:
        print("phoenix_feed: project names may not contain / ? #", file=sys.stderr)
        return 2

    try:
        spans = load_spans(args.spans)
    except (InputError, OSError, ValueError, KeyError) as e:
        print(f"phoenix_feed: bad input {args.spans}: {e}", file=sys.stderr)
        return 2

    if args.collector:
        exporter = send(spans, args.project, args.collector)
        if exporter.failed:
            print(
                f"phoenix_feed: OTLP export to {args.collector} failed for "
                f"{exporter.failed} of {len(spans)} spans",
                file=sys.stderr,
            )
            return 1
        print(f"phoenix_feed: {exporter.exported} spans sent to {args.collector}", file=sys.stderr)
        return 0

    # Fail fast (instead of the exporter's ~30 s of retries) when nothing answers.
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as r:
            r.read()
    except (urllib.error.URLError, OSError) as e:
        print(f"phoenix_feed: Phoenix does not answer at {base_url}/healthz: {e}", file=sys.stderr)
        return 1

    t0 = time.monotonic()
    exporter = send(spans, args.project, f"{base_url}/v1/traces")
    t_exported = time.monotonic()
    if exporter.failed:
        print(
            f"phoenix_feed: OTLP export to {base_url}/v1/traces failed for "
            f"{exporter.failed} of {len(spans)} spans",
            file=sys.stderr,
        )
        return 1

    want = {sp["span_id"] for sp in spans}
    deadline = time.monotonic() + args.timeout
    missing: set[str] = set(want)
    while True:
        try:
            seen = visible_span_ids(base_url, args.project)
        except (urllib.error.URLError, OSError) as e:
            seen = None
            last_error = str(e)
        else:
            last_error = None
        if seen is not None:
            missing = want - seen
            if not missing:
                now = time.monotonic()
                print(
                    f"phoenix_feed: {len(want)} spans visible in project {args.project!r} "
                    f"(export {t_exported - t0:.1f}s, then visible after {now - t_exported:.1f}s)",
                    file=sys.stderr,
                )
                return 0
        if time.monotonic() >= deadline:
            break
        time.sleep(0.25)

    detail = (
        f"project {args.project!r} never appeared"
        if seen is None
        else f"{len(missing)} of {len(want)} spans missing, e.g. {sorted(missing)[:5]}"
    )
    if last_error:
        detail += f" (last error: {last_error})"
    print(
        f"phoenix_feed: timed out after {args.timeout:g}s waiting for spans in "
        f"{base_url}/v1/projects/{args.project}/spans: {detail}",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
