//! One deployment for many accounts and regions, over the wire: moto keeps
//! what assumed-role credentials create in the role's account, so a WorkSpace
//! seeded in a member account is found only through that account's role.
//! The CLI runs with the home account's static keys (123456789012), which no
//! test here serves: every WorkSpace it finds was read through a member role.

use serde_json::{Value, json};

use crate::harness::*;

const DEFAULT_ORG: &str = "880000000000000002";
/// Regions with WorkSpaces (moto has no WorkSpaces in us-west-1, as AWS has none).
const REGIONS: [&str; 2] = ["eu-west-2", "eu-central-1"];

/// Seed one directory and `users` WorkSpaces in `account` × `region`; (workspace id, user).
fn seed_member(account: &str, region: &str, users: &[String]) -> Fleet {
    let out = seed_aws(json!({
        "account": account,
        "region": region,
        "directories": [{"name": "corp.example.com"}],
        "workspaces": users.iter().map(|u| json!({"user": u, "os": WIN})).collect::<Vec<_>>(),
    }));
    Fleet {
        directory_id: out["directories"][0].as_str().unwrap().to_string(),
        workspaces: seeded_workspaces(&out),
    }
}

/// Each WorkSpace record's (account, region, user), sorted.
fn located(report: &Value) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> = report["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["account"].as_str().unwrap_or("-").to_string(),
                w["region"].as_str().unwrap_or("-").to_string(),
                w["workspaces_user"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_and_backfill_cover_every_member_account_and_region() {
    let accounts = ["111111111101", "222222222202"];
    let mut expected = Vec::new();
    let mut users = Vec::new();
    for (a, account) in accounts.iter().enumerate() {
        for (r, region) in REGIONS.iter().enumerate() {
            let names: Vec<String> = (0..2).map(|i| format!("org{a}{r}{i}")).collect();
            seed_member(account, region, &names);
            for n in &names {
                expected.push((account.to_string(), region.to_string(), n.clone()));
                users.push(user(
                    &format!("u-{n}"),
                    &format!("{n}@corp.example.com"),
                    DEFAULT_ORG,
                ));
            }
        }
    }
    expected.sort();
    let sim = Sim::start(&tenant(json!(users)));
    let env = env(&secret_for(&sim, "organization"), &[]);
    let scope = [
        "--accounts",
        "111111111101,222222222202",
        "--regions",
        "eu-west-2,eu-central-1",
    ];

    // verify: every WorkSpace of both accounts in both regions, each with
    // where it is; all drift (their users are elsewhere); nothing written.
    let mut args = vec!["verify", "--output", "json"];
    args.extend(scope);
    let (code, out, err) = cli_in("us-east-1", "warn", &env, &args);
    assert_eq!(code, 2, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(located(&report), expected, "{out}");
    assert_eq!(report["summary"]["drift"], 8, "{out}");
    for account in accounts {
        assert_eq!(
            report["summary"]["by_account"][account]["drift"], 4,
            "{out}"
        );
    }
    assert_eq!(sim.writes().await.len(), 0);

    // backfill: every user placed, wherever their WorkSpace is.
    let mut args = vec!["backfill", "--max-moves", "8", "--output", "json"];
    args.extend(scope);
    let (code, out, err) = cli_in("us-east-1", "warn", &env, &args);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["summary"]["configured"], 8, "{out}");
    for (_, _, name) in &expected {
        assert_eq!(
            sim.user_org(&format!("u-{name}")).await,
            WORKSPACES_ORG_GUID,
            "{name}"
        );
    }

    // The table names the account and region of each row. Every user is
    // placed now, but no agent has registered: not covered, exit 2.
    let mut args = vec!["verify"];
    args.extend(scope);
    let (code, out, _) = cli_in("us-east-1", "warn", &env, &args);
    assert_eq!(code, 2, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("  compliant  ")).count(),
        8,
        "{out}"
    );
    assert!(out.starts_with("ACCOUNT       REGION"), "{out}");
    assert!(out.contains("222222222202  eu-central-1"), "{out}");
    assert!(
        out.contains("  account 111111111101: 4 WorkSpace(s)"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_is_handled_where_it_came_from_and_refused_from_elsewhere() {
    let (served, foreign) = ("333333333303", "444444444404");
    let member = seed_member(served, REGIONS[1], &["orgevent".to_string()]);
    let outsider = seed_member(foreign, REGIONS[1], &["orgforeign".to_string()]);
    let sim = Sim::start(&tenant(json!([
        user("u-orgevent", "orgevent@corp.example.com", DEFAULT_ORG),
        user("u-orgforeign", "orgforeign@corp.example.com", DEFAULT_ORG),
    ])));
    let env = env(
        &secret_for(&sim, "organization-event"),
        &[("CODE42_ACCOUNTS", served), ("CODE42_REGIONS", REGIONS[1])],
    );

    // From the member account and region: described there (the WorkSpace
    // exists only in that account), its user placed.
    let mut event = creation_event(&member);
    event["account"] = json!(served);
    event["region"] = json!(REGIONS[1]);
    let (code, out) = invoke_cli(&env, &event);
    assert_eq!(code, 0, "{out}");
    assert_eq!(statuses(&out), ["configured"], "{out}");
    assert_eq!(out["workspaces"][0]["account"], served, "{out}");
    assert_eq!(out["workspaces"][0]["region"], REGIONS[1], "{out}");
    assert_eq!(sim.user_org("u-orgevent").await, WORKSPACES_ORG_GUID);

    // From an account not served (its WorkSpace real, its user in Code42):
    // refused before any call; nobody moved.
    let before = sim.counters().await["total"].clone();
    for (account, region) in [(foreign, REGIONS[1]), (served, REGIONS[0])] {
        let mut event = creation_event(&outsider);
        event["account"] = json!(account);
        event["region"] = json!(region);
        let (code, out) = invoke_cli(&env, &event);
        assert_eq!(code, 1, "{out}");
        let error = out["error"].as_str().unwrap();
        assert!(
            error.contains(&format!(
                "account {account} in region {region}, which this deployment does not serve"
            )),
            "{error}"
        );
    }
    assert_eq!(sim.counters().await["total"], before, "no Code42 request");
    assert_eq!(sim.user_org("u-orgforeign").await, DEFAULT_ORG);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_whose_role_cannot_be_assumed_is_reported_while_the_others_complete() {
    let (reachable, refusing) = ("555555555505", "666666666606");
    seed_member(reachable, REGIONS[0], &["orgok".to_string()]);
    seed_member(refusing, REGIONS[0], &["orgrefused".to_string()]);
    deny_assume_role(&[refusing]).await;
    let sim = Sim::start(&compliant_tenant("orgok", &["orgok", "orgrefused"]));
    let env = env(&secret_for(&sim, "organization-refused"), &[]);
    let accounts = format!("{reachable},{refusing}");
    let args = [
        "verify",
        "--output",
        "json",
        "--accounts",
        &accounts,
        "--regions",
        REGIONS[0],
    ];
    let (code, out, err) = cli_in("us-east-1", "warn", &env, &args);
    assert_eq!(code, 1, "not everything could be checked: {out}{err}");
    let document: Value = serde_json::from_str(&out).unwrap();
    let report = &document["result"];
    // The reachable account's WorkSpace is checked and reported…
    assert_eq!(
        located(report),
        [(
            reachable.to_string(),
            REGIONS[0].to_string(),
            "orgok".to_string()
        )],
        "{out}"
    );
    assert_eq!(statuses(report), ["compliant"], "{out}");
    // …the other is named with the reason and the fix.
    let unreachable = &report["unreachable"];
    assert_eq!(unreachable.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(unreachable[0]["account"], refusing);
    assert_eq!(unreachable[0]["region"], REGIONS[0]);
    let reason = unreachable[0]["error"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "cannot assume arn:aws:iam::{refusing}:role/WorkspacesCode42Member"
        )) && reason.contains("AccessDenied")
            && reason.contains("infra/member.yaml"),
        "{reason}"
    );
    assert!(
        document["error"]
            .as_str()
            .unwrap()
            .contains("1 account/region location(s) could not be listed"),
        "{out}"
    );

    // doctor says the same, per location.
    let args = ["doctor", "--accounts", &accounts, "--regions", REGIONS[0]];
    let (code, out, _) = cli_in("us-east-1", "warn", &env, &args);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL") && l.contains(refusing)),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("PASS") && l.contains(reachable)),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_organization_every_active_account_is_served_and_one_without_the_role_is_a_warning() {
    // The home account (123456789012, the CLI's keys) manages an
    // organization with three new members; the third has no member role.
    let seeded = seed_aws(json!({"region": "us-east-1", "organization": {"accounts": 3}}));
    let members: Vec<String> = seeded["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    // Regions no other test seeds in the home account, which is served too.
    let regions = ["ap-southeast-1", "eu-west-3"];
    seed_member(&members[0], regions[0], &["orgwide0".to_string()]);
    seed_member(&members[1], regions[1], &["orgwide1".to_string()]);
    deny_assume_role(&[&members[2]]).await;
    let sim = Sim::start(&tenant(json!([
        user("u-orgwide0", "orgwide0@corp.example.com", DEFAULT_ORG),
        user("u-orgwide1", "orgwide1@corp.example.com", DEFAULT_ORG),
    ])));
    let env = env(&secret_for(&sim, "organization-wide"), &[]);
    let regions_arg = regions.join(",");
    let args = [
        "verify",
        "--output",
        "json",
        "--accounts",
        "organization",
        "--regions",
        &regions_arg,
    ];
    let (code, out, err) = cli_in("us-east-1", "warn", &env, &args);
    // Both users are outside the WorkSpaces org (drift, exit 2); the account
    // without the role does not make it an error.
    assert_eq!(code, 2, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let mut expected = vec![
        (
            members[0].clone(),
            regions[0].to_string(),
            "orgwide0".to_string(),
        ),
        (
            members[1].clone(),
            regions[1].to_string(),
            "orgwide1".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(located(&report), expected, "members {members:?}: {out}");
    let mut warned: Vec<(String, String, bool)> = report["unreachable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["account"].as_str().unwrap().to_string(),
                u["region"].as_str().unwrap().to_string(),
                u["warning"] == true,
            )
        })
        .collect();
    warned.sort();
    assert_eq!(
        warned,
        regions.map(|r| (members[2].clone(), r.to_string(), true)),
        "members {members:?}: {out}"
    );
    assert_eq!(sim.writes().await.len(), 0);
}

/// Make moto refuse AssumeRole into `accounts` (tools/moto_launcher.py), as
/// STS does for a role that is missing or does not trust the caller.
async fn deny_assume_role(accounts: &[&str]) {
    let response = reqwest::Client::new()
        .post(format!("{}/_launcher/deny_assume_role", moto_url()))
        .json(&json!({ "accounts": accounts }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
}

/// `operation` calls moto served in `region` (tools/moto_launcher.py counts them).
async fn workspaces_calls(region: &str, operation: &str) -> u64 {
    let calls: Value = reqwest::get(format!("{}/_launcher/calls", moto_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["operation"] == format!("WorkspacesService.{operation}") && c["region"] == region
        })
        .map(|c| c["count"].as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_run_reads_every_page_once_and_no_workspace_per_user() {
    // A region no other test uses; 30 WorkSpaces: two pages of 25 (as AWS pages them).
    const REGION: &str = "sa-east-1";
    let names: Vec<String> = (0..30).map(|i| format!("orgpage{i:02}")).collect();
    let fleet = fleet_in_region(
        REGION,
        "corp.example.com",
        &names.iter().map(|n| (n.clone(), WIN)).collect::<Vec<_>>(),
    );
    assert_eq!(fleet.workspaces.len(), 30);
    let sim = Sim::start(&tenant(json!(
        names
            .iter()
            .map(|n| user(
                &format!("u-{n}"),
                &format!("{n}@corp.example.com"),
                DEFAULT_ORG
            ))
            .collect::<Vec<_>>()
    )));
    // Each user has a laptop too: a move must know which of their devices
    // are WorkSpaces, which it reads from the listing, not one call per user.
    for n in &names {
        sim.add_agent(
            json!({"agentId": format!("a-{n}"), "userId": format!("u-{n}"),
            "name": format!("LAPTOP-{n}"), "osHostname": format!("LAPTOP-{n}"),
            "appVersion": "1.6.0", "active": true}),
        )
        .await;
    }
    let env = env(&secret_in(REGION, &sim, "organization-pages"), &[]);
    let before = workspaces_calls(REGION, "DescribeWorkspaces").await;
    let directories_before = workspaces_calls(REGION, "DescribeWorkspaceDirectories").await;
    let (code, out, err) = cli_in(
        REGION,
        "warn",
        &env,
        &["backfill", "--max-moves", "30", "--output", "json"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["summary"]["configured"], 30,
        "every page was read: {out}"
    );
    let moves = report["workspaces"].as_array().unwrap();
    assert!(
        moves.iter().all(|w| w["actions"][0]["other_devices"][0]
            .as_str()
            .unwrap_or("")
            .starts_with("LAPTOP-")),
        "each move names the laptop that goes along: {out}"
    );
    // The listing's two pages, nothing per user (the plan and the apply pass
    // both used the listing).
    assert_eq!(
        workspaces_calls(REGION, "DescribeWorkspaces").await - before,
        2
    );
    // One directory listing, whose names serve every WorkSpace checked side
    // by side (each used to look its directory up again).
    assert_eq!(
        workspaces_calls(REGION, "DescribeWorkspaceDirectories").await - directories_before,
        1
    );
}
