"""The benchmark's yardstick: a straightforward Python (boto3 + requests)
implementation of the same per-WorkSpace flow as workspaces-code42, written
the way a one-off admin script would be. Not a product: no retries beyond
429, no guards, no report beyond counts.

  bench_python.py event FILE                 # a CreateWorkspaces event (apply)
  bench_python.py verify  --directory-id D   # read-only audit
  bench_python.py backfill --directory-id D  # move users into the org
  bench_python.py fleet-verify               # every account x region, bulk reads

fleet-verify is the same script grown for an organization: it assumes
CODE42_MEMBER_ROLE in each of CODE42_ACCOUNTS, lists every region of
CODE42_REGIONS (WORKERS locations at once), then reads every Code42 user and
agent page by page (as the incydr SDK's iter_all does) and joins in memory.

Configuration as for the real tool: CODE42_SECRET_ID, CODE42_ORG; AWS from
the standard environment (AWS_ENDPOINT_URL for moto). WORKERS threads
(default 4) handle WorkSpaces at once. Prints one JSON line of counts.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import threading
import time

import boto3
import requests

KEY = "device_fileForensics_watchPaths_included"
WANTED = [":main", "D:"]
local = threading.local()


def session():
    if not hasattr(local, "http"):
        local.http = requests.Session()
    return local.http


def call(method, url, token, **kwargs):
    """One request; a 429 waits for Retry-After and tries again."""
    while True:
        r = session().request(method, url, headers={"Authorization": f"Bearer {token}"}, timeout=30, **kwargs)
        if r.status_code == 429:
            time.sleep(float(r.headers.get("Retry-After", "1")))
            continue
        r.raise_for_status()
        return r.json() if r.content else None


def unwrap(body):
    return body.get("data", body) if isinstance(body, dict) else body


class Code42:
    def __init__(self, secret):
        self.api = secret["api_url"].rstrip("/")
        self.console = secret.get("console_url", self.api).rstrip("/")
        auth = (secret["api_client_id"], secret["api_client_secret"])
        self.gateway = requests.post(f"{self.api}/v1/oauth", auth=auth, timeout=30).json()["access_token"]
        console = requests.post(f"{self.console}/api/v3/oauth/token", params={"grant_type": "client_credentials"},
                                auth=auth, timeout=30).json()
        self.console_token = unwrap(console)["access_token"]

    def find_user(self, username):
        page = 1
        while True:
            body = call("GET", f"{self.api}/v1/users", self.gateway,
                        params={"username": username, "page": page, "pageSize": 100})
            for user in body["users"]:
                if user["username"].lower() == username.lower():
                    return user
            if len(body["users"]) < 100:
                return None
            page += 1

    def iter_all(self, path, key, page_size, **params):
        """Every item of a listing, page by page, until a short page."""
        page = 1
        while True:
            items = call("GET", f"{self.api}{path}", self.gateway,
                         params={**params, "page": page, "pageSize": page_size})[key]
            yield from items
            if len(items) < page_size:
                return
            page += 1

    def agents(self, user_id):
        body = call("GET", f"{self.api}/v1/agents", self.gateway, params={"userId": user_id, "active": "true"})
        return body["agents"]

    def move(self, user_id, org_guid):
        call("POST", f"{self.api}/v1/users/{user_id}/move", self.gateway, json={"orgGuid": org_guid})
        return call("GET", f"{self.api}/v1/users/{user_id}", self.gateway)

    def org(self, wanted):
        orgs = call("GET", f"{self.api}/v1/orgs", self.gateway)["orgs"]
        org = next(o for o in orgs if wanted in (o["orgGuid"], o["orgName"]))
        legacy = unwrap(call("GET", f"{self.console}/api/v1/Org", self.console_token, params={"pgSize": 100}))
        org["legacyOrgId"] = next(o["orgId"] for o in legacy["orgs"] if o["orgGuid"] == org["orgGuid"])
        return org

    def ensure_watch_paths(self, legacy_id, apply):
        url = f"{self.console}/api/v1/OrgSettings/{legacy_id}"
        setting = unwrap(call("GET", url, self.console_token, params={"keys": KEY})).get(KEY) or {}
        items = [i.strip().strip("'") for i in str(setting.get("value", "")).strip("[]").split(",") if i.strip()]
        missing = [p for p in WANTED if p not in items]
        if not missing and setting.get("locked"):
            return "compliant"
        if not apply:
            return "drift"
        value = [f"'{i}'" for i in items + missing]
        call("PUT", url, self.console_token, json={"packets": [{"key": KEY, "value": value, "locked": True}]})
        return "configured"


def check(code42, org, workspace, directory_names, apply):
    if "WINDOWS" not in workspace.get("WorkspaceProperties", {}).get("OperatingSystemName", "WINDOWS"):
        return "skipped"
    username = f"{workspace['UserName']}@{directory_names[workspace['DirectoryId']]}"
    user = code42.find_user(username)
    if user is None:
        return "deferred"
    code42.agents(user["userId"])
    if user["orgGuid"] == org["orgGuid"]:
        return "compliant"
    if not apply:
        return "drift"
    moved = code42.move(user["userId"], org["orgGuid"])
    return "configured" if moved["orgGuid"] == org["orgGuid"] else "failed"


def list_location(account, region, role):
    """(directory names, WorkSpaces) of one account and region, through the member role."""
    creds = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="bench-python")["Credentials"]
    ws = boto3.client("workspaces", region_name=region, aws_access_key_id=creds["AccessKeyId"],
                      aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    names = {d["DirectoryId"]: d["DirectoryName"] for d in ws.describe_workspace_directories()["Directories"]}
    found = []
    for page in ws.get_paginator("describe_workspaces").paginate():
        found.extend(page["Workspaces"])
    return names, found


def fleet_verify(code42, org, workers):
    accounts = os.environ["CODE42_ACCOUNTS"].split(",")
    regions = os.environ["CODE42_REGIONS"].split(",")
    role = os.environ.get("CODE42_MEMBER_ROLE", "WorkspacesCode42Member")
    locations = [(a, r) for a in accounts for r in regions]
    names, workspaces = {}, []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for found_names, found in pool.map(lambda at: list_location(*at, role), locations):
            names.update(found_names)
            workspaces.extend(found)
    page_size = int(os.environ.get("CODE42_USERS_PAGE_SIZE", "100"))
    users = {u["username"].lower(): u for u in code42.iter_all("/v1/users", "users", page_size)}
    hosts = {(a.get("name") or "").lower() for a in code42.iter_all("/v1/agents", "agents", 500, active="true")}
    statuses = []
    for w in workspaces:
        if "WINDOWS" not in w.get("WorkspaceProperties", {}).get("OperatingSystemName", "WINDOWS"):
            statuses.append("skipped")
            continue
        user = users.get(f"{w['UserName']}@{names[w['DirectoryId']]}".lower())
        if user is None:
            statuses.append("deferred")
        elif user["orgGuid"] != org["orgGuid"]:
            statuses.append("drift")
        else:
            statuses.append("compliant" if w.get("ComputerName", "").lower() in hosts else "not_covered")
    return statuses


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["event", "verify", "backfill", "fleet-verify"])
    parser.add_argument("event", nargs="?")
    parser.add_argument("--directory-id")
    args = parser.parse_args()
    workspaces_api = boto3.client("workspaces")
    secret = json.loads(boto3.client("secretsmanager").get_secret_value(
        SecretId=os.environ["CODE42_SECRET_ID"])["SecretString"])
    code42 = Code42(secret)
    org = code42.org(os.environ["CODE42_ORG"])
    apply = args.command != "verify"
    org_status = code42.ensure_watch_paths(org["legacyOrgId"], apply)
    workers = int(os.environ.get("WORKERS", "4"))
    if args.command == "fleet-verify":
        statuses = fleet_verify(code42, org, workers)
        print(json.dumps({"org": org_status, "total": len(statuses), **collections.Counter(statuses)}))
        return

    if args.command == "event":
        event = json.load(open(args.event))
        ids = [p["workspaceId"] for p in event["detail"]["responseElements"]["pendingRequests"]]
        workspaces = workspaces_api.describe_workspaces(WorkspaceIds=ids)["Workspaces"]
    else:
        workspaces = []
        params = {"DirectoryId": args.directory_id} if args.directory_id else {}
        for page in workspaces_api.get_paginator("describe_workspaces").paginate(**params):
            workspaces.extend(page["Workspaces"])
    directory_names = {d["DirectoryId"]: d["DirectoryName"] for d in
                       workspaces_api.describe_workspace_directories()["Directories"]}

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        statuses = list(pool.map(lambda w: check(code42, org, w, directory_names, apply), workspaces))
    counts = collections.Counter(statuses)
    print(json.dumps({"org": org_status, "total": len(statuses), **counts}))


if __name__ == "__main__":
    main()
