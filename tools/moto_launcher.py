#!/usr/bin/env python3
"""Run moto (the AWS emulator) in server mode on loopback.

Prints "LISTENING http://127.0.0.1:PORT" once it accepts connections. With
--exit-on-stdin-eof it stops when its standard input closes, so a test process
that dies can never leave it running.
"""
import argparse
import collections
import io
import json
import logging
import urllib.parse
import sys
import threading
import time

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler
from moto.workspaces import models as workspaces_models
from moto.workspaces import responses as workspaces_responses

# Without this every keep-alive request waits ~40 ms on delayed ACKs.
MotoRequestHandler.disable_nagle_algorithm = True

# moto leaves ComputerName empty; real WorkSpaces get one such as WSAMZN-ABC12345.
# Derive it from the id (as the tests' fakes do) so agent matching runs over the wire.
_workspace_init = workspaces_models.Workspace.__init__


def _workspace_init_with_computer_name(self, *args, **kwargs):
    _workspace_init(self, *args, **kwargs)
    self.computer_name = "WSAMZN-" + self.workspace_id[3:].upper()


workspaces_models.Workspace.__init__ = _workspace_init_with_computer_name

# moto answers DescribeWorkspaces in one page; AWS gives at most 25
# WorkSpaces a page (`Limit`, default and maximum 25) with a NextToken, so a
# client that reads one page misses the rest. Paginate the same way.
WORKSPACES_PAGE = 25


def _describe_workspaces_in_pages(self):
    params = json.loads(self.body)
    found = self.workspaces_backend.describe_workspaces(
        workspace_ids=params.get("WorkspaceIds"), directory_id=params.get("DirectoryId"),
        user_name=params.get("UserName"), bundle_id=params.get("BundleId"))
    limit = min(int(params.get("Limit") or WORKSPACES_PAGE), WORKSPACES_PAGE)
    start = int(params.get("NextToken") or 0)
    page = {"Workspaces": [w.to_dict_pending() for w in found[start:start + limit]]}
    if start + limit < len(found):
        page["NextToken"] = str(start + limit)
    return json.dumps(page)


workspaces_responses.WorkSpacesResponse.describe_workspaces = _describe_workspaces_in_pages

# moto runs requests in parallel without locking, so its DynamoDB
# conditional writes race (an update creating an item can undo a parallel
# one). Real DynamoDB applies each conditional write atomically: serialise
# DynamoDB requests to behave the same (reference tooling.md §7).
# Each JSON-protocol operation (DynamoDB, WorkSpaces, ...) is counted by
# operation and signing region, so tests and the benchmark can show what a run
# costs: GET /_launcher/calls returns [{"operation", "region", "count"}].
_dynamodb = threading.Lock()
_config = {}
_calls = collections.Counter()
_calls_lock = threading.Lock()


def _region(environ):
    """The region of the request's signature (Credential=KEY/DATE/REGION/...)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = auth.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    return scope[2] if len(scope) > 2 else ""
_dispatch = DomainDispatcherApplication.__call__


# moto accepts every AssumeRole (reference tooling.md §7). Real STS refuses a
# role that does not exist or does not trust the caller: POST
# /_launcher/deny_assume_role {"accounts": [...]} makes AssumeRole into those
# accounts answer AccessDenied, as STS does (for the server's life).
_denied_accounts = set()


def _assume_role_denied(environ):
    """The refusal of an AssumeRole into a denied account, else None (the body is kept for moto)."""
    if not _denied_accounts or environ.get("REQUEST_METHOD") != "POST":
        return None
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    if form.get("Action") != ["AssumeRole"]:
        return None
    role = form.get("RoleArn", [""])[0]
    parts = role.split(":")
    if len(parts) < 5 or parts[4] not in _denied_accounts:
        return None
    return (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f'<Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/moto is not authorized '
            f'to perform: sts:AssumeRole on resource: {role}</Message></Error>'
            f'<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>').encode()


def _dispatch_serialising_dynamodb(self, environ, start_response):
    if environ.get("PATH_INFO") == "/_launcher/deny_assume_role":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        accounts = json.loads(environ["wsgi.input"].read(length) or b"{}").get("accounts", [])
        # Added to, never cleared: tests running side by side each deny their own accounts.
        _denied_accounts.update(accounts)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"denied": sorted(_denied_accounts)}).encode()]
    refusal = _assume_role_denied(environ)
    if refusal is not None:
        start_response("403 Forbidden", [("Content-Type", "text/xml")])
        return [refusal]
    if environ.get("PATH_INFO") == "/_launcher/config":
        # {"workspaces_latency_ms": 20}: each WorkSpaces call takes that long,
        # as the benchmark's model of the real API (threads serve calls side by side).
        length = int(environ.get("CONTENT_LENGTH") or 0)
        _config.update(json.loads(environ["wsgi.input"].read(length) or b"{}"))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(_config).encode()]
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        with _calls_lock:
            _calls[(target, _region(environ))] += 1
    if target.startswith("WorkspacesService.") and _config.get("workspaces_latency_ms"):
        time.sleep(_config["workspaces_latency_ms"] / 1000.0)
    if target.startswith("DynamoDB_"):
        with _dynamodb:
            return list(_dispatch(self, environ, start_response))
    if environ.get("PATH_INFO") == "/_launcher/calls":
        with _calls_lock:
            body = json.dumps([{"operation": op, "region": region, "count": n}
                               for (op, region), n in sorted(_calls.items())]).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _dispatch_serialising_dynamodb


def main():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"LISTENING http://{host}:{port}", flush=True)
    try:
        if args.exit_on_stdin_eof:
            sys.stdin.read()
        else:
            server._thread.join()
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    main()
