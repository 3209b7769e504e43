#!/usr/bin/env python3
"""A Phoenix-shaped REST peer that serves N synthetic spans, for bench/sync.sh.

GET /v1/projects/{p}/spans?limit=L&cursor=C answers pages in Phoenix's shape; the
cursor is the offset of the next span. Spans are made on the fly (3 per trace: a
chain root, an LLM call, a tool call), so memory stays flat whatever N is.
Usage: phoenix_fake.py PORT N
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PORT, TOTAL = int(sys.argv[1]), int(sys.argv[2])


def span(i):
    trace, k = divmod(i, 3)
    kind = ("CHAIN", "LLM", "TOOL")[k]
    attrs = {"service.version": "v%d" % (1 + trace % 3), "metadata.prompt_hash": "p%d" % (trace % 3)}
    if kind == "LLM":
        attrs.update({"llm.model_name": "gpt-4o", "llm.token_count.prompt": 100 + trace % 50,
                      "llm.token_count.completion": 40, "output.value": "Your order ships tomorrow."})
    elif kind == "TOOL":
        attrs.update({"tool.name": "lookup_order", "tool.parameters.order_id": trace})
    else:
        attrs.update({"input.value": "where is my order %d?" % trace})
    sec = 1795000000 + trace
    return {
        "id": "U3BhbjO%d" % i, "name": kind.lower(),
        "context": {"trace_id": "%032x" % (trace + 1), "span_id": "%016x" % (i + 1)},
        "span_kind": kind, "parent_id": None if k == 0 else "%016x" % (trace * 3 + 1),
        "start_time": "2026-11-19T10:00:%02d.%06d+00:00" % (sec % 60, k * 1000),
        "end_time": "2026-11-19T10:00:%02d.%06d+00:00" % (sec % 60, k * 1000 + 500),
        "status_code": "ERROR" if kind == "TOOL" and trace % 10 == 0 else "OK",
        "status_message": "", "attributes": attrs, "events": [],
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        q = parse_qs(urlparse(self.path).query)
        start = int(q.get("cursor", ["0"])[0])
        limit = int(q.get("limit", ["100"])[0])
        end = min(start + limit, TOTAL)
        body = json.dumps({"data": [span(i) for i in range(start, end)],
                           "next_cursor": str(end) if end < TOTAL else None}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
