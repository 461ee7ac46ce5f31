"""The SAM template, checked offline: its EventBridge patterns against the
sample events (moto's TestEventPattern), and a deployment of the locally
translated template to moto's CloudFormation."""

import ast
import json
import os
import pathlib
import re

import boto3
import pytest
from moto import mock_aws
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
REGION = "us-east-1"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:code42/workspaces-AbCdEf"

# moto's CloudFormation silently skips resource types it cannot model; the
# test asserts on them from the translated template instead.
NOT_MODELLED_BY_MOTO = {"AWS::Lambda::EventInvokeConfig", "AWS::SQS::QueuePolicy", "AWS::CloudWatch::Alarm"}


def event(name):
    return json.loads((ROOT / "events" / name).read_text())


class NoNetworkPolicyLoader:
    """SAM's translator asks IAM for managed policies; this template needs none."""

    def load(self):
        return {}


def translated(code_uri="s3://artifacts/bootstrap.zip"):
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    template = yaml_parse(TEMPLATE.read_text())
    template["Resources"]["Function"]["Properties"]["CodeUri"] = code_uri
    return transform(template, {}, NoNetworkPolicyLoader())


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


MOTO_ACCOUNT = "123456789012"


NO_VALUE = object()


def resolved(value, account=MOTO_ACCOUNT, members=""):
    """`value` as deployed in `account` with the MemberAccounts parameter
    `members`: `AWS::AccountId`, `MemberAccounts`, the `HasMembers` and
    `AllOrganization` choices, and `AWS::NoValue` (the key left out)."""
    if value == {"Ref": "AWS::AccountId"}:
        return account
    if value == {"Ref": "MemberAccounts"}:
        return members
    if isinstance(value, dict) and list(value) == ["Fn::If"] and value["Fn::If"][0] == "HasMembers":
        return resolved(value["Fn::If"][1 if members else 2], account, members)
    if isinstance(value, dict) and list(value) == ["Fn::If"] and value["Fn::If"][0] == "AllOrganization":
        return resolved(value["Fn::If"][1 if members == "organization" else 2], account, members)
    if value == {"Ref": "AWS::NoValue"}:
        return NO_VALUE
    if isinstance(value, dict) and list(value) == ["Fn::Split"]:
        separator, text = value["Fn::Split"]
        return resolved(text, account, members).split(separator)
    if isinstance(value, dict):
        kept = {k: resolved(v, account, members) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not NO_VALUE}
    if isinstance(value, list):
        return [resolved(v, account, members) for v in value]
    return value


def rule_patterns(account=MOTO_ACCOUNT, members=""):
    """Each rule's pattern, as deployed in `account` (moto's by default: its
    PutEvents stamps events with it)."""
    resources = translated()["Resources"]
    return {
        name: resolved(r["Properties"]["EventPattern"], account, members)
        for name, r in resources.items()
        if r["Type"] == "AWS::Events::Rule" and "EventPattern" in r["Properties"]
    }


def matches(pattern, evt):
    """Route `evt` through a rule with `pattern` to an SQS target, in moto.

    (moto 5.2.5's TestEventPattern answers with an empty body, so the rule is
    exercised the way EventBridge uses it: PutEvents -> rule -> target.)"""
    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="matched")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="under-test", EventPattern=json.dumps(pattern))
        events.put_targets(Rule="under-test", Targets=[{"Id": "q", "Arn": arn}])
        result = events.put_events(Entries=[{
            "Source": evt["source"], "DetailType": evt["detail-type"],
            "Detail": json.dumps(evt["detail"]), "Resources": evt.get("resources", [])}])
        assert result["FailedEntryCount"] == 0, result
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return len(received) == 1


CREATION_RULE = "FunctionWorkspacesCreated"
ACCESS_RULE = "WorkspacesAccessRule"


@pytest.mark.parametrize("name", ["create-workspaces.json", "create-workspaces-batch.json",
                                  "create-workspaces-failed-call.json", "migrate-workspace.json",
                                  "create-standby-workspaces.json", "rebuild-workspaces.json",
                                  "restore-workspace.json"])
def test_creation_rule_matches_creation_events(name):
    assert matches(rule_patterns()[CREATION_RULE], event(name))


def test_terminate_rule_matches_terminate_events_only():
    pattern = rule_patterns()["FunctionWorkspacesTerminated"]
    assert matches(pattern, event("terminate-workspaces.json"))
    assert not matches(pattern, event("create-workspaces.json"))
    assert not matches(pattern, event("workspaces-access.json"))


def test_creation_rule_ignores_unrelated_events():
    pattern = rule_patterns()[CREATION_RULE]
    assert not matches(pattern, event("terminate-workspaces.json"))
    assert not matches(pattern, event("workspaces-access.json"))
    other_service = event("create-workspaces.json")
    other_service["source"] = "aws.workspaces-web"
    other_service["detail"]["eventSource"] = "workspaces-web.amazonaws.com"
    assert not matches(pattern, other_service)
    ec2 = {"version": "0", "id": "1", "detail-type": "EC2 Instance State-change Notification",
           "source": "aws.ec2", "account": "1", "time": "2025-11-03T00:00:00Z", "region": REGION,
           "resources": [], "detail": {"state": "running"}}
    assert not matches(pattern, ec2)


def test_rules_take_events_of_their_own_account_only():
    """Deployed in another account, no rule matches an event of moto's."""
    elsewhere = rule_patterns(account="999999999999")
    assert set(elsewhere) == {CREATION_RULE, "FunctionWorkspacesTerminated", ACCESS_RULE}
    for name, pattern in elsewhere.items():
        assert pattern["account"] == ["999999999999"], name
    assert not matches(elsewhere[CREATION_RULE], event("create-workspaces.json"))
    assert not matches(elsewhere["FunctionWorkspacesTerminated"], event("terminate-workspaces.json"))
    assert not matches(elsewhere[ACCESS_RULE], event("workspaces-access.json"))


def test_with_member_accounts_the_rules_take_their_events_only():
    """MemberAccounts replaces this account in every rule: events from the
    members (forwarded by infra/member.yaml) are taken, this account's are not
    unless it is listed."""
    members = rule_patterns(members="111111111111,222222222222")
    for name, pattern in members.items():
        assert pattern["account"] == ["111111111111", "222222222222"], name
    assert not matches(members[CREATION_RULE], event("create-workspaces.json"))
    listed = rule_patterns(members=f"111111111111,{MOTO_ACCOUNT}")
    assert matches(listed[CREATION_RULE], event("create-workspaces.json"))
    assert matches(listed[ACCESS_RULE], event("workspaces-access.json"))


def test_member_accounts_give_the_function_the_member_role_only_and_the_bus_to_the_organization():
    resources = translated()["Resources"]
    statements = resources["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assume = next(s["Fn::If"] for s in statements if "Fn::If" in s and s["Fn::If"][0] == "HasMembers")
    assert assume[1]["Action"] == "sts:AssumeRole"
    assert assume[1]["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"}
    assert assume[2] == {"Ref": "AWS::NoValue"}, "no AssumeRole without member accounts"
    env = resources["Function"]["Properties"]["Environment"]["Variables"]
    assert (env["CODE42_ACCOUNTS"], env["CODE42_REGIONS"], env["CODE42_MEMBER_ROLE"]) == (
        {"Ref": "MemberAccounts"}, {"Ref": "MemberRegions"}, {"Ref": "MemberRoleName"})
    bus = resources["OrganizationEventBusPolicy"]
    assert bus["Condition"] == "HasOrganization"
    statement = bus["Properties"]["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}
    params = yaml_parse(TEMPLATE.read_text())["Parameters"]
    accounts = re.compile(params["MemberAccounts"]["AllowedPattern"])
    assert accounts.match("") and accounts.match("111111111111,222222222222")
    assert not accounts.match("111111111111, 222222222222") and not accounts.match("organization,111111111111")
    assert accounts.match("organization")
    regions = re.compile(params["MemberRegions"]["AllowedPattern"])
    assert regions.match("us-east-1,eu-west-2") and regions.match("us-gov-west-1")
    assert not regions.match("us-east-1 ") and not regions.match("US-EAST-1")


def test_with_the_organization_the_rules_take_what_the_bus_accepts_and_the_function_lists_accounts():
    """`organization`: the template cannot list the accounts, so the rules
    take every account's events the bus accepts (the bus policy admits the
    organization only; the function refuses accounts outside it)."""
    patterns = rule_patterns(members="organization")
    assert set(patterns) == {CREATION_RULE, "FunctionWorkspacesTerminated", ACCESS_RULE}
    for name, pattern in patterns.items():
        assert "account" not in pattern, name
    assert matches(patterns[CREATION_RULE], event("create-workspaces.json"))
    assert matches(patterns[ACCESS_RULE], event("workspaces-access.json"))
    statements = translated()["Resources"]["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    listing = next(s["Fn::If"] for s in statements if "Fn::If" in s and s["Fn::If"][0] == "AllOrganization")
    assert listing[1]["Action"] == "organizations:ListAccounts"
    assert listing[2] == {"Ref": "AWS::NoValue"}, "no organization listing with listed accounts"


MEMBER = ROOT / "infra" / "member.yaml"
CENTRAL_ROLE = "arn:aws:iam::999999999999:role/wsc42-FunctionRole-ABC"
MEMBER_PARAMS = {"CentralAccountId": "999999999999", "CentralRegion": "eu-west-1", "CentralRoleArn": CENTRAL_ROLE,
                 "OrganizationId": "o-abcdefghij", "RoleRegion": REGION}


def deploy_member(region, params):
    cfn = boto3.client("cloudformation", region_name=region)
    cfn.create_stack(StackName="wsc42-member", TemplateBody=MEMBER.read_text(),
                     Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
                     Capabilities=["CAPABILITY_NAMED_IAM"])
    stack = cfn.describe_stacks(StackName="wsc42-member")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    # moto lists a resource its condition left out with an empty id.
    return {r["LogicalResourceId"] for r in cfn.list_stack_resources(StackName="wsc42-member")["StackResourceSummaries"]
            if r["LogicalResourceId"]}


@mock_aws
def test_member_template_deploys_the_role_once_and_the_forwarding_rule_in_every_region():
    assert deploy_member(REGION, MEMBER_PARAMS) == {"MemberRole", "ForwarderRole", "ForwardWorkspacesEvents"}
    assert deploy_member("eu-west-2", MEMBER_PARAMS) == {"ForwardWorkspacesEvents"}, "IAM is global"
    iam = boto3.client("iam", region_name=REGION)
    role = iam.get_role(RoleName="WorkspacesCode42Member")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        trust = json.loads(trust)
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"AWS": CENTRAL_ROLE}, "the central function only (no operator given)"
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}
    policy = iam.get_role_policy(RoleName="WorkspacesCode42Member", PolicyName="describe-workspaces")["PolicyDocument"]
    if isinstance(policy, str):
        policy = ast.literal_eval(policy)
    assert [set(s["Action"]) for s in policy["Statement"]] == [
        {"workspaces:DescribeWorkspaces", "workspaces:DescribeWorkspaceDirectories"}], "read-only"
    events = boto3.client("events", region_name="eu-west-2")
    target = events.list_targets_by_rule(Rule="WorkspacesCode42Member-forward")["Targets"][0]
    assert target["Arn"] == "arn:aws:events:eu-west-1:999999999999:event-bus/default"
    assert target["RoleArn"] == f"arn:aws:iam::{MOTO_ACCOUNT}:role/WorkspacesCode42Member-forwarder"


@mock_aws
def test_member_template_trusts_an_operator_when_given_and_forwards_nothing_to_itself():
    operator = "arn:aws:iam::999999999999:role/SecurityOperator"
    # The central account's own region: its stack's rules already see the events.
    own = dict(MEMBER_PARAMS, CentralAccountId=MOTO_ACCOUNT, CentralRegion=REGION, OperatorPrincipalArn=operator)
    assert deploy_member(REGION, own) == {"MemberRole", "ForwarderRole"}
    trust = boto3.client("iam", region_name=REGION).get_role(RoleName="WorkspacesCode42Member")["Role"][
        "AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        trust = json.loads(trust)
    assert trust["Statement"][0]["Principal"] == {"AWS": [CENTRAL_ROLE, operator]}


def test_member_rule_forwards_creation_termination_and_sign_ins_only():
    pattern = resolved(yaml_parse(MEMBER.read_text())["Resources"]["ForwardWorkspacesEvents"]["Properties"][
        "EventPattern"])
    assert pattern["account"] == [MOTO_ACCOUNT]
    branches = pattern["$or"]
    forwarded = {"create-workspaces.json", "create-workspaces-batch.json", "terminate-workspaces.json",
                 "workspaces-access.json", "migrate-workspace.json", "create-standby-workspaces.json",
                 "rebuild-workspaces.json", "restore-workspace.json"}
    for name in forwarded:
        evt = event(name)
        assert any(matches(dict({k: v for k, v in pattern.items() if k != "$or"}, **b), evt) for b in branches), name
    ec2 = {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}
    assert not any(matches(dict({k: v for k, v in pattern.items() if k != "$or"}, **b), ec2) for b in branches)


def test_secret_parameter_requires_the_full_arn_with_its_suffix():
    pattern = re.compile(yaml_parse(TEMPLATE.read_text())["Parameters"]["Code42SecretArn"]["AllowedPattern"])
    assert pattern.match(SECRET_ARN)
    for partial in ["code42/workspaces",
                    f"arn:aws:secretsmanager:{REGION}:123456789012:secret:code42/workspaces",
                    f"arn:aws:secretsmanager:{REGION}:123456789012:secret:code42/workspaces-AbCd"]:
        assert not pattern.match(partial), partial


def test_queue_policies_admit_only_this_account_and_this_stacks_rules():
    resources = translated()["Resources"]
    work = resources["WorkQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    deny = next(s for s in work if s["Effect"] == "Deny")
    assert deny["Action"] == "sqs:SendMessage" and deny["Principal"] == "*"
    assert deny["Condition"] == {"StringNotEqualsIfExists": {
        "aws:PrincipalAccount": {"Ref": "AWS::AccountId"}, "aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    rule_dlq = resources["RuleDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    sources = rule_dlq["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert len(sources) == 4 and all("*" not in json.dumps(s) for s in sources), sources
    rule_names = [r["Properties"].get("Name") for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    for suffix in ("workspaces-created", "workspaces-terminated", "reconcile"):
        assert any(suffix in json.dumps(s) for s in sources), suffix
        assert any(suffix in json.dumps(n) for n in rule_names), suffix


def test_a_failed_invocation_reaches_the_failure_queue_once():
    resources = translated()["Resources"]
    function = resources["Function"]["Properties"]
    assert "DeadLetterConfig" not in function, "the on-failure destination alone"
    invoke = next(r for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig")
    assert invoke["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailureQueue", "Arn"]}


def test_access_rule_matches_only_sign_ins():
    pattern = rule_patterns()[ACCESS_RULE]
    assert matches(pattern, event("workspaces-access.json"))
    assert not matches(pattern, event("create-workspaces.json"))


def deploy_central(template, **extra):
    """Deploy the translated central template to moto as `wsc42`; its stack."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="bootstrap.zip", Body=b"PK\x05\x06" + b"\x00" * 18)
    cfn = boto3.client("cloudformation", region_name=REGION)
    params = {"Code42SecretArn": SECRET_ARN, "Code42Org": "WorkSpaces", "Mode": "verify", **extra}
    cfn.create_stack(
        StackName="wsc42",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = cfn.describe_stacks(StackName="wsc42")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return cfn, stack


@mock_aws
def test_the_organization_stack_deploys_with_rules_for_every_account():
    deploy_central(translated(), MemberAccounts="organization", OrganizationId="o-abcdefghij")
    events = boto3.client("events", region_name=REGION)
    names = [r["Name"] for r in events.list_rules(NamePrefix="wsc42-workspaces-")["Rules"]]
    assert sorted(names) == ["wsc42-workspaces-access", "wsc42-workspaces-created", "wsc42-workspaces-terminated"]
    for name in names:
        pattern = json.loads(events.describe_rule(Name=name)["EventPattern"])
        assert "account" not in pattern and pattern["source"] == ["aws.workspaces"], (name, pattern)
    fn = boto3.client("lambda", region_name=REGION).get_function(FunctionName="wsc42-handler")["Configuration"]
    assert fn["Environment"]["Variables"]["CODE42_ACCOUNTS"] == "organization"


@mock_aws
def test_stack_deploys_to_moto_cloudformation():
    template = translated()
    cfn, stack = deploy_central(template)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    deployed = {r["LogicalResourceId"]: r["ResourceType"]
                for r in cfn.list_stack_resources(StackName="wsc42")["StackResourceSummaries"]}
    # Without OrganizationId, no member forwards events: no bus policy.
    expected = {name: r["Type"] for name, r in template["Resources"].items() if r.get("Condition") != "HasOrganization"}
    missing = {name for name, kind in expected.items() if name not in deployed and kind not in NOT_MODELLED_BY_MOTO}
    assert not missing, f"resources not created: {missing}"
    skipped = {kind for name, kind in expected.items() if name not in deployed}
    assert skipped <= NOT_MODELLED_BY_MOTO, skipped

    # Alarms (not modelled by moto): errors, throttles and every dead-letter queue.
    alarms = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    platform = [a for a in alarms if a["Namespace"] in ("AWS/Lambda", "AWS/SQS")]
    assert {a["MetricName"] for a in platform} == {"Errors", "Throttles", "ApproximateNumberOfMessagesVisible"}
    watched = {a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in alarms if a["Namespace"] == "AWS/SQS"}
    assert watched == {"FailureQueue", "RuleDeadLetterQueue", "WorkDeadLetterQueue"}

    # The function and its configuration.
    fn = boto3.client("lambda", region_name=REGION).get_function(FunctionName="wsc42-handler")["Configuration"]
    assert fn["Runtime"] == "provided.al2023" and fn["Handler"] == "bootstrap"
    assert fn["Timeout"] == 300 and fn["MemorySize"] == 256
    env = fn["Environment"]["Variables"]
    assert env["CODE42_SECRET_ID"] == SECRET_ARN and env["CODE42_MODE"] == "verify"
    assert env["WORK_QUEUE_URL"] == outputs["WorkQueueUrl"]
    props = template["Resources"]["Function"]["Properties"]
    assert props["Architectures"] == ["arm64"], "what sam build compiles (checked by tools/check_bootstrap.py)"
    assert env["CODE42_METRICS_NAMESPACE"] == "wsc42"
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    assert "ReservedConcurrentExecutions" not in props, "throttling an SQS-driven function dead-letters early"

    # Rules and their patterns, retry policies and dead-letter queues.
    events = boto3.client("events", region_name=REGION)
    created = events.describe_rule(Name="wsc42-workspaces-created")
    assert json.loads(created["EventPattern"]) == {
        "account": [MOTO_ACCOUNT],
        "source": ["aws.workspaces"], "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["workspaces.amazonaws.com"], "eventName": [
            "CreateWorkspaces", "MigrateWorkspace", "CreateStandbyWorkspaces", "RebuildWorkspaces", "RestoreWorkspace"]}}
    target = events.list_targets_by_rule(Rule="wsc42-workspaces-created")["Targets"][0]
    assert target["Arn"] == fn["FunctionArn"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 185
    assert target["DeadLetterConfig"]["Arn"].endswith(":" + outputs["RuleDeadLetterQueueUrl"].rsplit("/", 1)[1])
    access = events.describe_rule(Name="wsc42-workspaces-access")
    assert json.loads(access["EventPattern"]) == {
        "account": [MOTO_ACCOUNT], "source": ["aws.workspaces"], "detail-type": ["WorkSpaces Access"]}
    access_target = events.list_targets_by_rule(Rule="wsc42-workspaces-access")["Targets"][0]
    assert access_target["Arn"].endswith(":" + outputs["WorkQueueUrl"].rsplit("/", 1)[1])
    schedule = events.describe_rule(Name="wsc42-reconcile")
    assert schedule["ScheduleExpression"] == "rate(1 day)" and schedule["State"] == "ENABLED"

    # The work queue: redrive to its dead-letter queue, visibility >= 6 x timeout.
    sqs = boto3.client("sqs", region_name=REGION)
    attrs = sqs.get_queue_attributes(QueueUrl=outputs["WorkQueueUrl"], AttributeNames=["All"])["Attributes"]
    assert int(attrs["VisibilityTimeout"]) >= 6 * fn["Timeout"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 5
    assert redrive["deadLetterTargetArn"].endswith(":" + outputs["WorkDeadLetterQueueUrl"].rsplit("/", 1)[1])

    # The SQS event source mapping reports partial failures and caps concurrency.
    mappings = boto3.client("lambda", region_name=REGION).list_event_source_mappings(FunctionName="wsc42-handler")
    mapping = template["Resources"]["FunctionWorkQueue"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "QueueMaxConcurrency"}}
    assert len(mappings["EventSourceMappings"]) == 1

    # Asynchronous invocation: bounded retries, then the failure queue (not modelled by moto).
    invoke = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::EventInvokeConfig")
    assert invoke["Properties"]["MaximumRetryAttempts"] == 2
    assert invoke["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailureQueue", "Arn"]}

    # One role, written out, resource-scoped.
    iam = boto3.client("iam", region_name=REGION)
    role_name = fn["Role"].rsplit("/", 1)[1]
    policy = iam.get_role_policy(RoleName=role_name, PolicyName="workspaces-code42")["PolicyDocument"]
    if isinstance(policy, str):  # moto stores the document as a Python repr
        policy = ast.literal_eval(policy)
    # moto keeps AWS::NoValue as None where CloudFormation drops the entry.
    statements = {s["Sid"]: s for s in policy["Statement"] if s is not None}
    assert statements["ReadCode42Secret"]["Resource"] == SECRET_ARN
    assert "DecryptCode42Secret" not in statements, "no KMS statement without a customer key"
    assert set(statements["DescribeWorkSpaces"]["Action"]) == {
        "workspaces:DescribeWorkspaces", "workspaces:DescribeWorkspaceDirectories"}
    for sid in ("EnqueueWork", "ConsumeWork", "OnFailureDestination", "OwnLogs"):
        assert statements[sid]["Resource"] != "*", sid
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []
    # The ledger: the function may put, update, get and query it, nothing else.
    assert set(statements["Ledger"]["Action"]) == {
        "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query"}
    assert statements["Ledger"]["Resource"] != "*"
    assert env["CODE42_LEDGER_TABLE"] == outputs["LedgerTableName"]
    assert (str(env["CODE42_MAX_MOVES_PER_HOUR"]), str(env["CODE42_LEDGER_RETENTION_DAYS"])) == ("50", "400")
    assert outputs["LedgerTableName"] in outputs["CliExport"]


def test_the_ledger_table_outlives_the_stack_and_expires_entries():
    table = translated()["Resources"]["LedgerTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]


def test_outcome_alarms_read_the_functions_metrics_and_say_what_to_do():
    resources = translated()["Resources"]
    alarms = {name: r["Properties"] for name, r in resources.items()
              if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["Namespace"] == {"Ref": "AWS::StackName"}}
    by_metric = {a["MetricName"]: (name, a) for name, a in alarms.items()}
    assert set(by_metric) == {"WorkspacesFailed", "ScheduleDeferred", "ScheduleNotCovered", "MovesHeldByBudget",
                              "OrgPolicyFailures", "NotCoveredAfterSignIn"}
    # A WorkSpace an hour past its first sign-in and not covered: at once.
    _, signed_in = by_metric["NotCoveredAfterSignIn"]
    assert (signed_in["Statistic"], signed_in["Period"], signed_in["Threshold"]) == ("Sum", 3600, 0)
    # A policy that fails: at once (the users were placed; the policy was not).
    _, policy = by_metric["OrgPolicyFailures"]
    assert (policy["Statistic"], policy["Threshold"], policy["EvaluationPeriods"]) == ("Sum", 0, 1)
    # Deferred must persist: two daily periods, the minimum of each above zero.
    _, deferred = by_metric["ScheduleDeferred"]
    assert (deferred["Statistic"], deferred["Period"], deferred["EvaluationPeriods"], deferred["DatapointsToAlarm"]) == (
        "Minimum", 86400, 2, 2)
    # Moves are capped by the hourly budget: the alarm is on moves it held back.
    _, held = by_metric["MovesHeldByBudget"]
    assert (held["Statistic"], held["Period"], held["Threshold"]) == ("Sum", 3600, 0)
    for name, alarm in alarms.items():
        assert "workspaces-code42 " in alarm["AlarmDescription"] or "Mode=verify" in alarm["AlarmDescription"], name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_dashboard_is_valid_json_over_the_functions_metrics():
    body = translated()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    text, variables = body
    assert set(variables) == {"Ns", "LogGroup"}
    for key in ("${Ns}", "${LogGroup}", "${AWS::Region}"):
        text = text.replace(key, "x")
    widgets = json.loads(text)["widgets"]
    names = {m[1] for w in widgets if w["type"] == "metric" for m in w["properties"]["metrics"]}
    assert {"WorkspacesFailed", "ScheduleNotCovered", "UsersMoved", "Code42RateLimited", "TimeToCoveredSeconds",
            "NotCoveredAfterSignIn"} <= names
    assert any(w["type"] == "log" for w in widgets)
