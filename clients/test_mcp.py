"""Firebreak's MCP endpoint through the official MCP Python SDK (PyPI `mcp`), a client
nobody here wrote: streamable HTTP against the real gateway binary, with the initialize
handshake of the 2025 revisions (mode "legacy") and the stateless 2026-07-28 protocol
(mode "auto": server/discover, then per-request metadata).

Run by scripts/clients-check.sh, which starts the gateway with a token table and sets
FIREBREAK_URL and the tokens (FIREBREAK_TOKEN_*).
"""
import asyncio
import contextlib
import json
import os
import time
import unittest
import urllib.error
import urllib.request

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from firebreak_rest import URL, incident_with_note, rest, wait_for

AGENT = os.environ["FIREBREAK_TOKEN_AGENT"]      # search:read, notes:write, answers
READER = os.environ["FIREBREAK_TOKEN_READER"]    # search:read only
FLOOD = os.environ["FIREBREAK_TOKEN_FLOOD"]      # search:read, its own rate allowance
MODES = ("legacy", "auto")


def seed():
    """An incident whose note says what fixed it, and a runbook; the incident's id once both are searchable."""
    incident = incident_with_note(
        "fp-mcp-photos", {"alertname": "KubePodCrashLooping", "namespace": "photos", "pod": "immich-ml-0"},
        "Pod photos/immich-ml-0 is restarting: exec format error.",
        "The image was built for amd64 only and the node is arm64: rebuilt it multi-arch with buildx.", "bob",
        "arm64 image multi-arch buildx")
    rest("POST", "/v1/ingest", {"source": "wiki", "run_id": f"mcp-{time.time()}", "documents": [{
        "id": "runbooks/drain-node", "title": "Draining a node for maintenance",
        "text": "Cordon the node, then kubectl drain --ignore-daemonsets --delete-emptydir-data; uncordon it afterwards."}]})

    def indexed():
        r = rest("POST", "/v1/search", {"query": "drain a node", "kinds": ["document"]})
        return r["keyword_only"] == 0 and bool(r["results"])
    wait_for(indexed, "the runbook indexed")
    return incident


@contextlib.asynccontextmanager
async def client(token, mode):
    """The SDK's client on /mcp with a bearer token (none when `token` is None)."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=300) as http:
        async with Client(streamable_http_client(URL + "/mcp", http_client=http), mode=mode, cache=None) as c:
            yield c


def run(coro):
    return asyncio.run(coro)


class McpTools(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.incident = seed()

    def test_tools_are_listed_with_schemas_and_only_those_the_token_may_call(self):
        async def go(mode):
            async with client(AGENT, mode) as c:
                agent = {t.name: t for t in (await c.list_tools()).tools}
            async with client(READER, mode) as c:
                reader = {t.name for t in (await c.list_tools()).tools}
            return agent, reader
        for mode in MODES:
            with self.subTest(mode=mode):
                agent, reader = run(go(mode))
                self.assertEqual(set(agent), {"search_incidents", "similar_to_alert", "get_incident", "search_documents",
                                              "add_note", "status", "answer"})
                self.assertEqual(reader, set(agent) - {"add_note", "answer"})
                self.assertEqual(agent["get_incident"].input_schema["required"], ["incident_id"])
                self.assertIn("Does not", agent["search_documents"].description)

    def test_every_tool_answers_on_stored_incidents_and_documents(self):
        async def go(mode):
            async with client(AGENT, mode) as c:
                out = {}
                out["search"] = await c.call_tool("search_incidents", {"query": "pod crashes with exec format error", "k": 3})
                out["similar"] = await c.call_tool("similar_to_alert", {"alert": {
                    "labels": {"alertname": "KubeContainerWaiting", "namespace": "photos"},
                    "annotations": {"description": "Container immich-ml is waiting: exec format error, wrong architecture."}}})
                out["get"] = await c.call_tool("get_incident", {"incident_id": self.incident})
                out["docs"] = await c.call_tool("search_documents", {"query": "how do I drain a node?"})
                out["note"] = await c.call_tool("add_note", {"incident_id": self.incident, "text": f"Seen again ({mode}): same fix.",
                                                             "author": "mcp-test"})
                out["missing"] = await c.call_tool("get_incident", {"incident_id": 999999})
                out["status"] = await c.call_tool("status", {})
                if mode == "legacy":  # the LLM writes it: once is enough (half a minute on one core)
                    out["answer"] = await c.call_tool("answer", {"question": "immich-ml: exec format error. Seen before? What fixed it?"})
                return out
        for mode in MODES:
            with self.subTest(mode=mode):
                r = run(go(mode))
                for name, res in r.items():
                    self.assertTrue(res.content and res.content[0].text, (name, res))
                    self.assertIsNotNone(res.structured_content, name)
                top = r["search"].structured_content["results"][0]
                self.assertEqual((top["kind"], top["id"]), ("incident", self.incident))
                self.assertIn("why", top)
                self.assertIn("buildx", r["search"].content[0].text, "the text names the fix")
                self.assertEqual(r["similar"].structured_content["results"][0]["id"], self.incident)
                self.assertFalse(r["similar"].structured_content["results"][0]["why"].get("same_alertname", True))
                inc = r["get"].structured_content
                self.assertEqual(inc["id"], self.incident)
                self.assertTrue(any("buildx" in n["text"] for n in inc["notes"]))
                self.assertEqual(r["docs"].structured_content["results"][0]["kind"], "document")
                self.assertEqual(r["note"].structured_content["incident_id"], self.incident)
                self.assertTrue(r["missing"].is_error)
                self.assertEqual(r["missing"].structured_content["error"], "not_found")
                self.assertIn("breakers", r["status"].structured_content)
                self.assertIn("degraded", r["status"].structured_content)
                if "answer" in r:
                    cited = [c["id"] for c in r["answer"].structured_content["firebreak"]["citations"]]
                    self.assertIn(self.incident, cited)
        notes = rest("GET", f"/v1/incidents/{self.incident}")["notes"]
        self.assertEqual({n["author"] for n in notes}, {"bob", "mcp-test"}, "both modes' notes are stored")

    def test_bad_arguments_are_errors_the_model_can_read(self):
        async def go(mode):
            async with client(AGENT, mode) as c:
                bad = await c.call_tool("get_incident", {"incident_id": "seven"})
                try:
                    await c.call_tool("drop_tables", {})
                    unknown = None
                except MCPError as e:
                    unknown = e
                return bad, unknown
        for mode in MODES:
            with self.subTest(mode=mode):
                bad, unknown = run(go(mode))
                self.assertTrue(bad.is_error)
                self.assertIn("get_incident", bad.content[0].text)
                self.assertIsNotNone(unknown, "an unknown tool is a protocol error")

    def test_no_token_and_a_token_without_the_scope_are_refused_with_the_reason(self):
        async def no_token(mode):
            try:
                async with client(None, mode) as c:
                    await c.list_tools()
            except Exception as e:  # the SDK raises from the handshake or the call
                return e
        async def reader_adds_note(mode):
            async with client(READER, mode) as c:
                try:
                    await c.call_tool("add_note", {"incident_id": self.incident, "text": "should not land"})
                except MCPError as e:
                    return e
        denied_before = denied("scope")
        for mode in MODES:
            with self.subTest(mode=mode):
                self.assertIsNotNone(run(no_token(mode)), "no token must not list tools")
                e = run(reader_adds_note(mode))
                self.assertIsNotNone(e, "a search:read token must not add notes")
                self.assertIn("notes:write", str(e))
        self.assertGreater(denied("scope"), denied_before)
        notes = rest("GET", f"/v1/incidents/{self.incident}")["notes"]
        self.assertFalse(any("should not land" in n["text"] for n in notes))

    def test_a_flood_of_calls_is_rate_limited_like_rest(self):
        # The SDK's view: a call over the rate fails with the reason.
        async def flood():
            async with client(FLOOD, "legacy") as c:
                for i in range(5000):
                    try:
                        await c.call_tool("status", {})
                    except MCPError as e:
                        return i, e
            return 5000, None
        calls, err = run(flood())
        self.assertLess(calls, 5000, "5 000 calls from one source were never limited")
        self.assertIn("requests/min", str(err))
        # The wire's view: the same status and headers as a REST route over its rate.
        body = json.dumps({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "status", "arguments": {}}}).encode()
        req = urllib.request.Request(URL + "/mcp", data=body, method="POST", headers={
            "authorization": f"Bearer {FLOOD}", "content-type": "application/json",
            "accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25"})
        # The allowance refills while the SDK closes its session, so a token or two may
        # be back by now: keep calling until the wire says no, as a flood would.
        resp = None
        for _ in range(1000):
            try:
                urllib.request.urlopen(req, timeout=30).read()
            except urllib.error.HTTPError as e:
                resp = e
                break
        self.assertIsNotNone(resp, "1 000 raw calls right after a flood were never limited")
        self.assertEqual(resp.code, 429)
        self.assertIsNotNone(resp.headers.get("retry-after"))
        self.assertEqual(resp.headers.get("x-ratelimit-remaining"), "0")
        err = json.loads(resp.read())
        self.assertEqual((err["id"], err["error"]["code"], err["error"]["data"]["error"]), (9, -32429, "rate_limited"))
        self.assertGreater(metric('firebreak_rate_limited_total{route="query",source="flood"}'), 0)
        self.assertGreater(metric('firebreak_mcp_tool_calls_total{tool="status",outcome="refused"}'), 0)


def metrics():
    with urllib.request.urlopen(URL + "/metrics", timeout=30) as r:
        return r.read().decode()


def metric(series):
    for line in metrics().splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def denied(reason):
    return metric(f'firebreak_auth_denied_total{{reason="{reason}"}}')


if __name__ == "__main__":
    unittest.main()
