#!/usr/bin/env python3
"""A local Code42 (Incydr) API simulator for development and tests.

It speaks the JSON of the endpoints workspaces-code42 uses, as the official SDKs
(incydr, py42) use them -- see ../shared/reference/code42-api.md:

  gateway (token from POST /v1/oauth, Basic client_id:secret)
    GET  /v1/users?username=&page=&pageSize=      {"users": [...], "totalCount": n}
    GET  /v1/users/{userId}
    POST /v1/users/{userId}/move  {"orgGuid": ...}  -> 204, no body
    GET  /v1/orgs                                 {"orgs": [...], "totalCount": n}
  console (token from POST /api/v3/oauth/token?grant_type=client_credentials)
    GET  /api/v1/Org?pgNum=&pgSize=               {"metadata":..., "data": {"orgs": [...]}}
    GET  /api/v1/OrgSettings/{orgId}?keys=k       {"metadata":..., "data": {k: {scope,value,locked,id}}}
    PUT  /api/v1/OrgSettings/{orgId}              {"packets": [{key,value,locked}]} -> 204
    (and py42's singular spelling /api/v1/OrgSetting/{orgId})

Oddities it keeps on purpose, because the real API has them (or may have them):
  * list settings are stored as the list's plain toString(), Java style:
    ["':main'", "'D:'"] is stored and returned as "[':main', 'D:']";
  * gateway tokens are refused on console resources and vice versa (configurable);
  * tokens expire (token_ttl_seconds) and can be expired on demand;
  * the username filter is a case-insensitive *substring* match, so clients
    must compare usernames exactly themselves;
  * responses carry fields clients do not know about.

Faults match by method, path prefix and an optional query substring
("query_contains"); "times": -1 means forever.

Test hooks live under /_sim/ (no auth): state, counters (writes = every
request that can change the tenant; unauthorized and refused_credentials),
blind_moves: users moved again without a read since their previous move
request arrived; max_in_flight: most requests answered at once), writes, requests (arrival times), faults
(status with "retry_after" or any "headers", "delay_ms", "drop" to close the
connection unanswered), chaos (faults drawn per request key and occurrence
under a seed), tokens (issued), agents (add one; "legalHold": true refuses
deactivation), config (latency_ms, max_page_size, rate_limit_per_second,
token_ttl_seconds, static_tokens), users, clients (rotate the API clients),
expire-tokens, revoke-tokens. Run it on its own:

  python3 tools/code42_sim.py --seed tools/demo/code42-seed.json --port 4242
"""

import argparse
import base64
import email.utils
import json
import random
import secrets
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SETTING_ID_BASE = 500000


def java_list_string(items):
    """What a Java List<String>.toString() gives: brackets, items joined by ', '."""
    return "[" + ", ".join(str(i) for i in items) + "]"


def stored_setting_value(value):
    if isinstance(value, list):
        return java_list_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class SimState:
    def __init__(self, seed):
        self.lock = threading.Lock()
        self.clients = {c["id"]: c["secret"] for c in seed.get("clients", [])}
        self.static_tokens = set(seed.get("static_tokens", []))
        self.token_ttl = float(seed.get("token_ttl_seconds", 900))
        self.orgs = [dict(o) for o in seed.get("orgs", [])]
        self.users = [dict(u) for u in seed.get("users", [])]
        # Agents as GET /v1/agents returns them (agentId, userId, name, osHostname, appVersion, ...).
        self.agents = [dict(a) for a in seed.get("agents", [])]
        # settings: legacy org id (str) -> key -> {value, locked, scope}
        self.settings = {
            str(org_id): {k: dict(v) for k, v in keys.items()}
            for org_id, keys in seed.get("settings", {}).items()
        }
        options = seed.get("options", {})
        self.console_accepts_gateway_tokens = bool(options.get("console_accepts_gateway_tokens", False))
        self.settings_paths = list(options.get("settings_paths", ["OrgSettings", "OrgSetting"]))
        self.latency_ms = int(options.get("latency_ms", 0))
        self.max_page_size = int(options.get("max_page_size", 0))
        # Token bucket over all API requests (0 = unlimited); over it: 429 + Retry-After.
        self.rate_limit = float(options.get("rate_limit_per_second", 0))
        self.bucket = self.rate_limit
        self.bucket_at = time.monotonic()
        self.rate_limited = 0
        self.tokens = {}  # token -> (kind, expires_at)
        self.faults = []
        # Seeded random faults over every API request (see /_sim/chaos).
        self.chaos = None
        self.chaos_counts = {}
        self.issued_tokens = []
        self.counters = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = []
        self.writes = []
        self.total = 0
        # 401s answered, and token requests whose client id/secret were refused.
        self.unauthorized = 0
        self.refused_credentials = 0
        # Blind re-sends (see note_move_request): per user, whether it was read
        # since its last move request arrived, and that request's fault status.
        self.read_since_move = {}
        self.last_move_request = {}
        self.blind_moves = []
        # Keyed chaos: how often each request key was seen.
        self.chaos_seen = {}
        # Whole listings (no username or userId filter), kept until users or
        # agents change: a 200,000-user tenant is then paged without
        # filtering (and sorting) it again for every page.
        self.generation = 0
        self.listings = {}

    def page_size(self, query, default):
        """The page size asked for, capped by the `max_page_size` option (a
        server may serve fewer than asked: clients must read to totalCount)."""
        size = int(query.get("pageSize", default))
        return min(size, self.max_page_size) if self.max_page_size else size

    def listing(self, key, build):
        """build() for a whole listing, reused until the next change; called under the lock."""
        cached = self.listings.get(key)
        if cached is None or cached[0] != self.generation:
            cached = self.listings[key] = (self.generation, build())
        return cached[1]

    def changed(self):
        """Users or agents were added or changed: listings are read afresh."""
        self.generation += 1

    # --- lookups -----------------------------------------------------------
    def org_by_guid(self, guid):
        return next((o for o in self.orgs if o["orgGuid"] == guid), None)

    def org_by_legacy(self, legacy_id):
        return next((o for o in self.orgs if str(o["legacyOrgId"]) == str(legacy_id)), None)

    def user_by_id(self, user_id):
        index = self.listing(("users by id",), lambda: {u["userId"]: u for u in self.users})
        return index.get(user_id)

    def user_json(self, user):
        """The user as the API shows it; called under the lock. Marks the
        user read (a client that re-reads before re-sending a move is not blind)."""
        self.read_since_move[user["userId"]] = True
        org = self.org_by_guid(user["orgGuid"]) or {}
        legacy = str(org.get("legacyOrgId", ""))
        return {
            "legacyUserId": str(user.get("legacyUserId", abs(hash(user["userId"])) % 10**6)),
            "userId": user["userId"],
            "username": user["username"],
            "firstName": user.get("firstName", ""),
            "lastName": user.get("lastName", ""),
            "legacyOrgId": legacy,
            # The gateway's orgId is not the legacy numeric id (see the reference).
            "orgId": legacy + "0" + legacy if legacy else "",
            "orgGuid": user["orgGuid"],
            "orgName": org.get("orgName", ""),
            "notes": None,
            "active": user.get("active", True),
            "blocked": user.get("blocked", False),
            "creationDate": "2024-01-02T03:04:05.000Z",
            "modificationDate": "2024-01-02T03:04:05.000Z",
            "simulatorOnlyField": {"note": "clients must ignore unknown fields"},
        }

    def org_json(self, org):
        return {
            "orgGuid": org["orgGuid"],
            "orgName": org["orgName"],
            "orgExtRef": None,
            "notes": None,
            "parentOrgGuid": org.get("parentOrgGuid"),
            "active": org.get("active", True),
            "creationDate": "2023-05-06T07:08:09.123Z",
            "modificationDate": "2023-05-06",  # inconsistent date formats, as in the real API
            "deactivationDate": None,
            "registrationKey": "AAAA-BBBB-CCCC-DDDD",
            "userCount": sum(1 for u in self.users if u["orgGuid"] == org["orgGuid"]),
            "computerCount": sum(
                1 for a in self.agents
                if a.get("active", True) and (self.user_by_id(a.get("userId")) or {}).get("orgGuid") == org["orgGuid"]
            ),  # (user_by_id is a dict look-up: 120,000 agents x 200,000 users stay fast)
            "orgCount": sum(1 for o in self.orgs if o.get("parentOrgGuid") == org["orgGuid"]),
        }

    def effective_setting(self, legacy_id, key):
        """The org's own value (scope ORG), else the nearest ancestor's (scope INHERITED)."""
        own = self.settings.get(str(legacy_id), {}).get(key)
        if own is not None:
            return {"scope": own.get("scope", "ORG"), **own}
        org = self.org_by_legacy(legacy_id)
        while org and org.get("parentOrgGuid"):
            org = self.org_by_guid(org["parentOrgGuid"])
            if org is None:
                break
            inherited = self.settings.get(str(org["legacyOrgId"]), {}).get(key)
            if inherited is not None:
                return {**inherited, "scope": "INHERITED"}
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else keep-alive requests wait ~40 ms on delayed ACKs
    server_version = "Code42Sim/1.0"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("code42-sim: " + (fmt % args) + "\n")

    @property
    def state(self):
        return self.server.state

    # --- plumbing ------------------------------------------------------------
    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status, body=None, headers=None):
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def legacy_wrap(self, data, params):
        return {
            "metadata": {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "params": params},
            "data": data,
        }

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def dispatch(self, method):
        url = urlsplit(self.path)
        path = url.path
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = self.read_body()
        if path.startswith("/_sim/"):
            return self.admin(method, path, query, body)
        st = self.state
        # Requests being answered at once: the client's bound on requests in flight, seen from here.
        with st.lock:
            st.in_flight += 1
            st.max_in_flight = max(st.max_in_flight, st.in_flight)
        try:
            self.answer(method, url, path, query, body)
        finally:
            with st.lock:
                st.in_flight -= 1

    def answer(self, method, url, path, query, body):
        st = self.state
        with st.lock:
            st.total += 1
            # Arrival times (epoch seconds): tests measure waits between requests here.
            st.requests.append({"method": method, "path": path, "query": url.query, "at": time.time()})
            route = f"{method} {route_template(path)}"
            st.counters[route] = st.counters.get(route, 0) + 1
            fault = self.take_fault(method, path, url.query) or self.chaos_fault(method, path, query)
            self.note_move_request(method, path, fault)
            latency = st.latency_ms
            limited = self.over_rate_limit()
        if limited:
            return self.send(429, {"error": "Too Many Requests"}, {"Retry-After": "1"})
        if latency:
            time.sleep(latency / 1000.0)
        if fault:
            if fault.get("delay_ms"):
                time.sleep(fault["delay_ms"] / 1000.0)
            if fault.get("drop"):
                # Close the connection without answering (a dropped connection).
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fault.get("status"):
                headers = dict(fault.get("headers") or {})
                if fault.get("retry_after") is not None:
                    headers["Retry-After"] = str(fault["retry_after"])
                return self.send(fault["status"], fault.get("body", {"error": "injected fault"}), headers)

        try:
            self.route(method, path, query, body)
        except BadRequest as e:
            self.send(400, [{"name": "SYSTEM", "description": str(e)}])

    def chaos_fault(self, method, path, query):
        """A fault drawn for (request key, occurrence number) under the seed
        (called under the lock): the same requests meet the same faults in
        every run with a seed, whatever the arrival order; a retry is a new
        occurrence with a draw of its own, so retries get through."""
        c = self.state.chaos
        if not c:
            return None
        key = method + " " + path + "?" + "&".join(f"{k}={v}" for k, v in sorted(query.items()))
        n = self.state.chaos_seen.get(key, 0) + 1
        self.state.chaos_seen[key] = n
        # String seeds are hashed with SHA-512: stable across processes.
        rng = random.Random(f"{c['seed']}|{key}|{n}")
        p = c["p"]
        draw, kind = rng.random(), None
        for name in ("429", "5xx", "slow", "drop", "redirect"):
            draw -= p.get(name, 0.0)
            if draw < 0:
                kind = name
                break
        if kind is None:
            return None
        if kind == "429":
            form = rng.choice(["0", "1", "date"])
            after = email.utils.formatdate(time.time() + 1, usegmt=True) if form == "date" else form
            fault = {"status": 429, "retry_after": after, "body": {"error": "Too Many Requests"}}
        elif kind == "5xx":
            fault = {"status": rng.choice([500, 502, 503]), "body": {"error": "injected"}}
        elif kind == "slow":
            fault = {"delay_ms": c["slow_ms"]}
        elif kind == "drop":
            fault = {"drop": True}
        else:
            fault = {"status": 302, "headers": {"Location": "http://127.0.0.1:9/elsewhere"}}
        self.state.chaos_counts[kind] = self.state.chaos_counts.get(kind, 0) + 1
        return fault

    def note_move_request(self, method, path, fault):
        """Blind re-sends, judged by arrival (called under the lock): a move of
        a user whose previous move request was not refused unprocessed (429,
        401) and who was not read since it arrived."""
        uid = move_user_id(method, path)
        if not uid:
            return
        st = self.state
        previous = st.last_move_request.get(uid)
        if previous not in (None, 401, 429) and not st.read_since_move.get(uid, False):
            st.blind_moves.append(uid)
        st.last_move_request[uid] = (fault or {}).get("status", 0)
        st.read_since_move[uid] = False

    def over_rate_limit(self):
        st = self.state
        if st.rate_limit <= 0:
            return False
        now = time.monotonic()
        st.bucket = min(st.rate_limit, st.bucket + (now - st.bucket_at) * st.rate_limit)
        st.bucket_at = now
        if st.bucket >= 1:
            st.bucket -= 1
            return False
        st.rate_limited += 1
        return True

    def take_fault(self, method, path, query):
        for fault in self.state.faults:
            if fault.get("method") and fault["method"] != method:
                continue
            if not path.startswith(fault.get("path", "/")):
                continue
            if fault.get("query_contains") and fault["query_contains"] not in query:
                continue
            if fault.get("times", -1) == 0:
                continue
            if fault.get("times", -1) > 0:
                fault["times"] -= 1
            fault["hits"] = fault.get("hits", 0) + 1
            return dict(fault)
        return None

    # --- auth ----------------------------------------------------------------
    def basic_client(self):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            client_id, secret = base64.b64decode(header[6:]).decode().split(":", 1)
        except Exception:
            return None
        if self.state.clients.get(client_id) == secret:
            return client_id
        with self.state.lock:
            self.state.refused_credentials += 1
        return None

    def issue_token(self, kind):
        token = f"{kind}-" + secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.tokens[token] = (kind, time.time() + self.state.token_ttl)
            self.state.issued_tokens.append(token)
        return token

    def bearer_ok(self, kind):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return False
        token = header[7:]
        if token in self.state.static_tokens:
            return True
        with self.state.lock:
            entry = self.state.tokens.get(token)
        if entry is None or entry[1] < time.time():
            return False
        if entry[0] == kind:
            return True
        return kind == "console" and self.state.console_accepts_gateway_tokens

    def unauthorized(self):
        with self.state.lock:
            self.state.unauthorized += 1
            uid = move_user_id(self.command, urlsplit(self.path).path)
            if uid:
                # Refused before processing: re-sending it is not blind.
                self.state.last_move_request[uid] = 401
        self.send(401, {"error": "Unauthorized", "message": "HTTP 401 Could not authenticate user"})

    # --- the API -------------------------------------------------------------
    def route(self, method, path, query, body):
        st = self.state
        parts = [p for p in path.split("/") if p]

        if method == "POST" and path == "/v1/oauth":
            if not self.basic_client():
                return self.unauthorized()
            token = self.issue_token("gateway")
            return self.send(200, {"token_type": "bearer", "expires_in": int(st.token_ttl), "access_token": token})
        if method == "POST" and path == "/api/v3/oauth/token":
            if query.get("grant_type") != "client_credentials" or not self.basic_client():
                return self.unauthorized()
            token = self.issue_token("console")
            return self.send(200, self.legacy_wrap(
                {"access_token": token, "token_type": "bearer", "expires_in": int(st.token_ttl)}, query))

        if parts[:1] == ["v1"]:
            if not self.bearer_ok("gateway"):
                return self.unauthorized()
            return self.gateway(method, parts[1:], query, body)
        if parts[:2] == ["api", "v1"]:
            if not self.bearer_ok("console"):
                return self.unauthorized()
            return self.console(method, parts[2:], query, body)
        return self.send(404, {"error": "Not Found", "path": path})

    def gateway(self, method, parts, query, body):
        st = self.state
        if method == "GET" and parts == ["users"]:
            needle = (query.get("username") or "").lower()
            page = int(query.get("page", 1))
            size = st.page_size(query, 100)
            with st.lock:
                # A user marked "unlisted" was created after a listing's pages
                # were read: a direct lookup finds them, the whole listing does not.
                def matching():
                    return [u for u in st.users if needle in u["username"].lower()
                            and (needle or not u.get("unlisted"))]
                found = matching() if needle else st.listing(("users",), matching)
                users = [st.user_json(u) for u in found[(page - 1) * size: page * size]]
            return self.send(200, {"users": users, "totalCount": len(found)})
        if method == "GET" and len(parts) == 2 and parts[0] == "users":
            with st.lock:
                user = st.user_by_id(parts[1])
                data = st.user_json(user) if user else None
            return self.send(200, data) if data else self.send(404, {"error": "Not Found"})
        if method == "POST" and len(parts) == 3 and parts[0] == "users" and parts[2] == "move":
            try:
                target = json.loads(body or b"{}").get("orgGuid")
            except json.JSONDecodeError:
                raise BadRequest("body is not JSON")
            with st.lock:
                user = st.user_by_id(parts[1])
                if user is None:
                    return self.send(404, {"error": "Not Found"})
                if not target or st.org_by_guid(target) is None:
                    raise BadRequest("Organization was not found")
                uid = user["userId"]
                st.writes.append({"method": "POST", "path": self.path, "body": json.loads(body),
                                  "user": uid, "from": user["orgGuid"], "to": target})
                user["orgGuid"] = target
            return self.send(204)
        if method == "POST" and parts == ["agents", "deactivate"]:
            try:
                ids = json.loads(body or b"{}").get("agentIds") or []
            except json.JSONDecodeError:
                raise BadRequest("body is not JSON")
            with st.lock:
                held = [a["agentId"] for a in st.agents if a.get("agentId") in ids and a.get("legalHold")]
                if held:
                    # Code42 refuses the whole request (reference section 7).
                    return self.send(400, [{"name": "ACTIVE_LEGAL_HOLD",
                                            "description": "device is under legal hold: " + ", ".join(held)}])
                st.writes.append({"method": "POST", "path": self.path, "body": json.loads(body)})
                for a in st.agents:
                    if a.get("agentId") in ids:
                        a["active"] = False
                st.changed()
            return self.send(204)
        if method == "GET" and parts == ["agents"]:
            # Filters and paging as the incydr SDK sends them (reference section 6).
            page = int(query.get("page", 1))
            size = st.page_size(query, 500)
            with st.lock:
                def matching():
                    found = [a for a in st.agents
                             if ("userId" not in query or a.get("userId") == query["userId"])
                             and ("active" not in query or str(a.get("active", True)).lower() == query["active"])]
                    found.sort(key=lambda a: (a.get("name") or "").lower(), reverse=query.get("srtDir") == "DESC")
                    return found
                found = (matching() if "userId" in query
                         else st.listing(("agents", query.get("active"), query.get("srtDir")), matching))
                data = {"agents": [dict(a, simulatorOnlyField=1) for a in found[(page - 1) * size: page * size]],
                        "totalCount": len(found), "pageSize": size, "page": page}
            return self.send(200, data)
        if method == "GET" and parts == ["orgs"]:
            with st.lock:
                orgs = [st.org_json(o) for o in st.orgs]
            return self.send(200, {"orgs": orgs, "totalCount": len(orgs)})
        return self.send(404, {"error": "Not Found"})

    def console(self, method, parts, query, body):
        st = self.state
        if method == "GET" and parts == ["Org"]:
            page = int(query.get("pgNum", 1))
            size = int(query.get("pgSize", 100))
            with st.lock:
                orgs = [
                    {"orgId": o["legacyOrgId"], "orgUid": o["orgGuid"], "orgGuid": o["orgGuid"],
                     "orgName": o["orgName"], "status": "Active", "type": "ENTERPRISE"}
                    for o in st.orgs
                ]
            return self.send(200, self.legacy_wrap(
                {"totalCount": len(orgs), "orgs": orgs[(page - 1) * size: page * size]}, query))
        if len(parts) == 2 and parts[0] == "Org":
            # The whole org object with device defaults and inheritance (reference section 5b).
            with st.lock:
                org = st.org_by_legacy(parts[1])
                if org is None:
                    return self.send(404, [{"name": "SYSTEM", "description": "Organization was not found"}])
                if method == "GET":
                    provider = org.get("deviceDefaultsFrom", org["legacyOrgId"])
                    data = {"orgId": org["legacyOrgId"], "orgUid": org["orgGuid"], "orgName": org["orgName"],
                            "status": "Active", "orgInheritDto": {"orgIdProvidingDeviceDefaults": provider},
                            "deviceDefaults": org.get("deviceDefaults", {})}
                    return self.send(200, self.legacy_wrap(data, query))
                if method == "PUT":
                    try:
                        sent = json.loads(body)
                    except json.JSONDecodeError:
                        raise BadRequest("body is not JSON")
                    st.writes.append({"method": "PUT", "path": self.path, "body": sent})
                    org["deviceDefaults"] = sent.get("deviceDefaults", {})
                    org["deviceDefaultsFrom"] = org["legacyOrgId"]
                    return self.send(200, self.legacy_wrap(sent, {}))
        if len(parts) == 2 and parts[0] in st.settings_paths:
            legacy_id = parts[1]
            with st.lock:
                if st.org_by_legacy(legacy_id) is None:
                    raise BadRequest("Organization was not found")
                if method == "GET":
                    keys = query.get("keys")
                    data = {}
                    for key in (keys.split(",") if keys else list(st.settings.get(legacy_id, {}))):
                        setting = st.effective_setting(legacy_id, key)
                        if setting is not None:
                            data[key] = {"scope": setting.get("scope", "ORG"), "value": setting["value"],
                                         "locked": bool(setting.get("locked", False)),
                                         "id": SETTING_ID_BASE + int(legacy_id)}
                    return self.send(200, self.legacy_wrap(data, query))
                if method == "PUT":
                    try:
                        packets = json.loads(body)["packets"]
                    except (json.JSONDecodeError, KeyError, TypeError):
                        raise BadRequest("body must be {\"packets\": [...]}")
                    st.writes.append({"method": "PUT", "path": self.path, "body": json.loads(body)})
                    own = st.settings.setdefault(legacy_id, {})
                    for packet in packets:
                        own[packet["key"]] = {"value": stored_setting_value(packet["value"]),
                                              "locked": bool(packet.get("locked", False)), "scope": "ORG"}
                    return self.send(204)
        return self.send(404, {"error": "Not Found"})

    # --- test hooks ----------------------------------------------------------
    def admin(self, method, path, query, body):
        st = self.state
        data = json.loads(body) if body else {}
        with st.lock:
            if path == "/_sim/state" and method == "GET":
                return self.send(200, {"orgs": st.orgs, "users": st.users, "settings": st.settings,
                                       "agents": st.agents})
            if path == "/_sim/counters" and method == "GET":
                # Every request that can change the tenant: moves, settings, org
                # objects, agent deactivations (token requests change nothing).
                writes = sum(n for r, n in st.counters.items()
                             if not r.startswith("GET ") and "oauth" not in r)
                tokens = sum(n for r, n in st.counters.items() if "oauth" in r)
                return self.send(200, {"total": st.total, "writes": writes, "token_requests": tokens,
                                       "rate_limited": st.rate_limited, "by_route": st.counters,
                                       "chaos": st.chaos_counts, "unauthorized": st.unauthorized,
                                       "refused_credentials": st.refused_credentials,
                                       "blind_moves": st.blind_moves,
                                       "max_in_flight": st.max_in_flight})
            if path == "/_sim/requests" and method == "GET":
                return self.send(200, {"requests": st.requests})
            if path == "/_sim/writes" and method == "GET":
                return self.send(200, {"writes": st.writes})
            if path == "/_sim/faults" and method == "POST":
                st.faults.append(data)
                return self.send(200, {"faults": st.faults})
            if path == "/_sim/faults" and method == "GET":
                return self.send(200, {"faults": st.faults})
            if path == "/_sim/config" and method == "POST":
                if "max_page_size" in data:
                    st.max_page_size = int(data["max_page_size"])
                if "latency_ms" in data:
                    st.latency_ms = int(data["latency_ms"])
                if "rate_limit_per_second" in data:
                    st.rate_limit = float(data["rate_limit_per_second"])
                    st.bucket, st.bucket_at = st.rate_limit, time.monotonic()
                if "token_ttl_seconds" in data:
                    st.token_ttl = float(data["token_ttl_seconds"])
                if "static_tokens" in data:
                    st.static_tokens = set(data["static_tokens"])
                if "console_accepts_gateway_tokens" in data:
                    st.console_accepts_gateway_tokens = bool(data["console_accepts_gateway_tokens"])
                return self.send(200, {"ok": True})
            if path == "/_sim/agents" and method == "POST":
                st.agents.append(data)
                st.changed()
                return self.send(200, data)
            if path == "/_sim/users" and method == "POST":
                st.users.append(data)
                st.changed()
                return self.send(200, data)
            if path == "/_sim/chaos" and method == "POST":
                # {"seed", "p": {"429", "5xx", "slow", "drop", "redirect"}, "slow_ms"}; {} turns it off.
                st.chaos = None if not data else {
                    "seed": data.get("seed", 0), "p": data.get("p", {}),
                    "slow_ms": int(data.get("slow_ms", 1500))}
                return self.send(200, {"chaos": bool(st.chaos), "counts": st.chaos_counts})
            if path == "/_sim/tokens" and method == "GET":
                return self.send(200, {"tokens": st.issued_tokens})
            if path == "/_sim/clients" and method == "POST":
                # Credential rotation: replace the API clients (id -> secret).
                st.clients = {c["id"]: c["secret"] for c in data.get("clients", [])}
                return self.send(200, {"clients": len(st.clients)})
            if path == "/_sim/revoke-tokens" and method == "POST":
                revoked = len(st.tokens)
                st.tokens = {}
                return self.send(200, {"revoked": revoked})
            if path == "/_sim/expire-tokens" and method == "POST":
                st.tokens = {t: (kind, 0.0) for t, (kind, _) in st.tokens.items()}
                return self.send(200, {"expired": len(st.tokens)})
        return self.send(404, {"error": "no such hook"})


class BadRequest(Exception):
    pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up on a slow answer is part of the game, not an error.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def move_user_id(method, path):
    """The user id of a move request (POST /v1/users/{id}/move), else None."""
    parts = [p for p in path.split("/") if p]
    if method == "POST" and len(parts) == 4 and parts[:2] == ["v1", "users"] and parts[3] == "move":
        return parts[2]
    return None


def route_template(path):
    """Collapse ids so counters group by route: /v1/users/123/move -> /v1/users/{id}/move."""
    parts = path.split("/")
    out = []
    for i, p in enumerate(parts):
        prev = parts[i - 1] if i else ""
        out.append("{id}" if prev in ("users", "OrgSettings", "OrgSetting") and p else p)
    return "/".join(out)


def main():
    parser = argparse.ArgumentParser(description="Local Code42 API simulator")
    parser.add_argument("--seed", help="JSON seed file (orgs, users, settings, clients)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4242, help="0 picks a free port")
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="stop when standard input closes (the parent process went away)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args()

    seed = {}
    if args.seed:
        with open(args.seed) as f:
            seed = json.load(f)
    server = Server((args.host, args.port), Handler)
    server.daemon_threads = True
    server.state = SimState(seed)
    server.verbose = args.verbose
    host, port = server.server_address[:2]
    print(f"LISTENING http://{host}:{port}", flush=True)

    if args.exit_on_stdin_eof:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdin.read()
        server.shutdown()
    else:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
