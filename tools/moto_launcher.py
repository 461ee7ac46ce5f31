#!/usr/bin/env python3
"""Run moto (the AWS emulator) in server mode on loopback.

Prints "LISTENING http://127.0.0.1:PORT" once it accepts connections. With
--exit-on-stdin-eof it stops when its standard input closes, so a test process
that dies can never leave it running.
"""
import argparse
import collections
import json
import logging
import sys
import threading

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler
from moto.workspaces import models as workspaces_models

# Without this every keep-alive request waits ~40 ms on delayed ACKs.
MotoRequestHandler.disable_nagle_algorithm = True

# moto leaves ComputerName empty; real WorkSpaces get one such as WSAMZN-ABC12345.
# Derive it from the id (as the tests' fakes do) so agent matching runs over the wire.
_workspace_init = workspaces_models.Workspace.__init__


def _workspace_init_with_computer_name(self, *args, **kwargs):
    _workspace_init(self, *args, **kwargs)
    self.computer_name = "WSAMZN-" + self.workspace_id[3:].upper()


workspaces_models.Workspace.__init__ = _workspace_init_with_computer_name

# moto runs requests in parallel without locking, so its DynamoDB
# conditional writes race (an update creating an item can undo a parallel
# one). Real DynamoDB applies each conditional write atomically: serialise
# DynamoDB requests to behave the same (reference tooling.md §7).
# Each DynamoDB operation is also counted (under the lock), so the benchmark
# can show what the ledger costs: GET /_launcher/dynamodb returns the counts.
_dynamodb = threading.Lock()
_dynamodb_calls = collections.Counter()
_dispatch = DomainDispatcherApplication.__call__


def _dispatch_serialising_dynamodb(self, environ, start_response):
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("DynamoDB_"):
        with _dynamodb:
            _dynamodb_calls[target.split(".", 1)[-1]] += 1
            return list(_dispatch(self, environ, start_response))
    if environ.get("PATH_INFO") == "/_launcher/dynamodb":
        with _dynamodb:
            body = json.dumps(dict(_dynamodb_calls)).encode()
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
