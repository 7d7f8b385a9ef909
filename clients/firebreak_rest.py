"""What the client tests share: the gateway's own REST API, with the admin token, to seed
what the clients under test then ask about (scripts/clients-check.sh sets FIREBREAK_URL
and the tokens)."""
import json
import os
import time
import urllib.parse
import urllib.request

URL = os.environ["FIREBREAK_URL"]
ADMIN = os.environ["FIREBREAK_TOKEN_ADMIN"]  # every scope


def rest(method, path, body=None, token=ADMIN):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method,
                                 headers={"content-type": "application/json", "authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def wait_for(check, what, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} never happened")


def incident_with_note(fingerprint, labels, description, note, author, probe):
    """A resolved incident and a note saying what fixed it; its id once a search for
    `probe` finds it by the note, with every result embedded."""
    rest("POST", "/v1/alerts", {
        "version": "4", "status": "resolved", "receiver": "firebreak", "groupKey": fingerprint,
        "alerts": [{"status": "resolved", "fingerprint": fingerprint, "labels": labels,
                    "annotations": {"description": description},
                    "startsAt": "2026-11-01T03:12:00Z", "endsAt": "2026-11-01T04:00:00Z"}]})
    query = urllib.parse.urlencode({"alertname": labels["alertname"], "namespace": labels["namespace"]})
    incident = rest("GET", f"/v1/incidents?{query}")["incidents"][0]["id"]
    rest("POST", f"/v1/incidents/{incident}/notes", {"text": note, "author": author})

    def found():
        r = rest("POST", "/v1/search", {"query": probe, "kinds": ["incident"]})
        return r["keyword_only"] == 0 and any(h["id"] == incident and h["why"]["field"] == "notes" for h in r["results"])
    wait_for(found, f"incident {incident}'s note indexed")
    return incident
