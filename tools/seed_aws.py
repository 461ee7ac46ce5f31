#!/usr/bin/env python3
"""Seed moto with WorkSpaces directories, WorkSpaces and secrets, over the wire.

Input (a JSON file or '-' for stdin):
  {"region": "us-east-1", "account": "111111111111" (optional: seed through a role in that account),
   "directories": [{"name": "corp.example.com"}],
   "workspaces": [{"directory": 0, "user": "asmith", "os": "WINDOWS_SERVER_2022"}],
   "secrets": [{"name": "code42/api", "value": {...} or "raw string"}],
   "functions": [{"name": "workspaces-code42-handler", "env": {"CODE42_ORG": "..."}}],
   "organization": {"accounts": 2} (the seeding account manages an organization; new members)}
Output (stdout): {"directories": ["d-..."], "directory_names": {"d-...": "corp.example.com"},
                  "workspaces": [{"workspace_id", "directory_id", "user"}],
                  "secrets": ["arn:..."], "accounts": ["<new member account ids>"]}
"""
import argparse
import io
import json
import time
import zipfile
import sys

import boto3


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True, help="moto URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("spec", help="JSON file, or - for stdin")
    args = parser.parse_args()
    spec = json.load(sys.stdin if args.spec == "-" else open(args.spec))
    region = spec.get("region", "us-east-1")
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    if spec.get("account"):
        # moto keeps what assumed-role credentials create in the role's account.
        sts = boto3.client("sts", region_name=region, endpoint_url=args.endpoint, **keys)
        c = sts.assume_role(RoleArn=f"arn:aws:iam::{spec['account']}:role/seeder", RoleSessionName="seed")["Credentials"]
        keys = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
                "aws_session_token": c["SessionToken"]}

    def client(name):
        return boto3.client(name, region_name=region, endpoint_url=args.endpoint, **keys)

    out = {"directories": [], "workspaces": [], "failed": [], "secrets": []}
    if spec.get("organization"):
        # An AWS Organization managed by the seeding account, and new member
        # accounts in it (moto gives them random ids, created at once).
        org = client("organizations")
        try:
            org.create_organization(FeatureSet="ALL")
        except org.exceptions.AlreadyInOrganizationException:
            pass
        out["accounts"] = [
            org.create_account(Email=f"member{i}-{time.time_ns()}@example.com",
                               AccountName=f"member{i}")["CreateAccountStatus"]["AccountId"]
            for i in range(spec["organization"]["accounts"])
        ]
    if spec.get("directories"):
        ec2, ds, ws = client("ec2"), client("ds"), client("workspaces")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{az}")["Subnet"]["SubnetId"]
            for i, az in ((1, "a"), (2, "b"))
        ]
        for d in spec["directories"]:
            directory_id = ds.create_directory(
                Name=d["name"], ShortName=d["name"].split(".")[0].upper()[:15], Password="Sup3r-Secret!",
                Size="Small", VpcSettings={"VpcId": vpc, "SubnetIds": subnets})["DirectoryId"]
            ws.register_workspace_directory(DirectoryId=directory_id, SubnetIds=subnets, Tenancy="SHARED")
            out["directories"].append(directory_id)
            out.setdefault("directory_names", {})[directory_id] = d["name"]
    requests = []
    for w in spec.get("workspaces", []):
        props = {"RunningMode": "AUTO_STOP", "ComputeTypeName": "STANDARD"}
        if w.get("os"):
            props["OperatingSystemName"] = w["os"]
        directory_id = w.get("directory_id") or out["directories"][w.get("directory", 0)]
        requests.append({"DirectoryId": directory_id, "UserName": w["user"],
                         "BundleId": w.get("bundle", "wsb-12345abcd"), "WorkspaceProperties": props})
    ws = client("workspaces")
    for i in range(0, len(requests), 25):  # the API takes 25 at a time
        r = ws.create_workspaces(Workspaces=requests[i:i + 25])
        out["workspaces"] += [{"workspace_id": p["WorkspaceId"], "directory_id": p["DirectoryId"],
                               "user": p["UserName"]} for p in r["PendingRequests"]]
        out["failed"] += [{"user": f["WorkspaceRequest"]["UserName"], "error_code": f["ErrorCode"]}
                          for f in r["FailedRequests"]]
    for f in spec.get("functions", []):
        # A deployed function's configuration (the CLI's --function-name reads it).
        iam = client("iam")
        try:
            role = iam.create_role(RoleName=f"{f['name']}-role", AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
        except iam.exceptions.EntityAlreadyExistsException:
            role = iam.get_role(RoleName=f"{f['name']}-role")["Role"]["Arn"]
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n")
        out.setdefault("functions", []).append(client("lambda").create_function(
            FunctionName=f["name"], Runtime="provided.al2023", Role=role, Handler="bootstrap",
            Code={"ZipFile": package.getvalue()}, Environment={"Variables": f.get("env", {})})["FunctionArn"])
    for s in spec.get("secrets", []):
        value = s["value"] if isinstance(s["value"], str) else json.dumps(s["value"])
        out["secrets"].append(client("secretsmanager").create_secret(Name=s["name"], SecretString=value)["ARN"])
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
