#!/usr/bin/env python3
"""Print the Code42 simulator's users, their orgs, and the org settings."""
import json
import sys
import urllib.request

state = json.load(urllib.request.urlopen(sys.argv[1] + "/_sim/state"))
counters = json.load(urllib.request.urlopen(sys.argv[1] + "/_sim/counters"))
orgs = {o["orgGuid"]: o["orgName"] for o in state["orgs"]}
for u in state["users"]:
    print(f"  user {u['username']:28} in org {orgs[u['orgGuid']]}")
for org_id, keys in state["settings"].items():
    for key, v in keys.items():
        print(f"  org {org_id} {key} = {v['value']} locked={v['locked']}")
print(f"  Code42 requests so far: {counters['total']}, of which writes: {counters['writes']}")
