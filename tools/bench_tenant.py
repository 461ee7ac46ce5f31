#!/usr/bin/env python3
"""The benchmark's Code42 tenant, from what tools/seed_aws.py seeded.

  bench_tenant.py --users N --agents N --in-org DOMAIN [--in-org ...] SEEDED.json...

Each seeded WorkSpace's user becomes a Code42 user `user@<directory name>`:
in the WorkSpaces org (with an agent on the WorkSpace's host, while agents
last) when the directory's name is an --in-org domain, else in the default
org. Other users and agents (laptops) fill up to --users and --agents. The
org's watch-path setting is compliant. Prints the simulator's seed JSON.
"""
import argparse
import json

WS_ORG, DEFAULT = "880000000000000003", "880000000000000002"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--in-org", action="append", default=[])
    parser.add_argument("seeded", nargs="+")
    args = parser.parse_args()
    users, agents = [], []
    for path in args.seeded:
        seeded = json.load(open(path))
        names = seeded["directory_names"]
        for w in seeded["workspaces"]:
            i = len(users)
            domain = names[w["directory_id"]]
            in_org = domain in args.in_org
            users.append({"userId": f"u{i:07d}", "username": f"{w['user']}@{domain}",
                          "orgGuid": WS_ORG if in_org else DEFAULT})
            if in_org and len(agents) < args.agents:
                host = "WSAMZN-" + w["workspace_id"][3:].upper()
                agents.append({"agentId": f"a{i:07d}", "userId": f"u{i:07d}", "name": host, "osHostname": host,
                               "appVersion": "1.5.0", "active": True})
    seeded_users = len(users)
    for i in range(seeded_users, args.users):
        users.append({"userId": f"u{i:07d}", "username": f"other{i:07d}@corp.example.com", "orgGuid": DEFAULT})
    others = max(1, args.users - seeded_users)
    for i in range(len(agents), args.agents):
        agents.append({"agentId": f"a{i:07d}", "userId": f"u{seeded_users + i % others:07d}",
                       "name": f"LAPTOP-{i}", "osHostname": f"LAPTOP-{i}", "appVersion": "1.5.0", "active": True})
    print(json.dumps({
        "clients": [{"id": "bench", "secret": "bench-secret"}],
        "orgs": [{"orgGuid": "880000000000000001", "orgName": "Acme", "legacyOrgId": 1001, "parentOrgGuid": None},
                 {"orgGuid": DEFAULT, "orgName": "Default", "legacyOrgId": 1002,
                  "parentOrgGuid": "880000000000000001"},
                 {"orgGuid": WS_ORG, "orgName": "WorkSpaces", "legacyOrgId": 1003,
                  "parentOrgGuid": "880000000000000001"}],
        "settings": {"1003": {"device_fileForensics_watchPaths_included": {
            "value": "[':main', 'D:']", "locked": True, "scope": "ORG"}}},
        "users": users, "agents": agents}))


if __name__ == "__main__":
    main()
