//! Chaos: a seeded random fault schedule in the Code42 simulator (429 storms
//! with Retry-After as seconds and as dates, 5xx bursts, responses slower than
//! the request timeout, dropped connections, redirects), tokens revoked and the
//! client secret rotated mid-run, over a backfill of 1,000 WorkSpaces (the CLI,
//! re-run until clean, as an operator would) and 200 creation events each
//! delivered twice (in process, retried as the platform would). Afterwards the
//! simulator's state must be exactly the expected one.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::harness::*;

const REGION: &str = "us-west-2";
const DOMAIN: &str = "chaos.example.com";
const DEFAULT_ORG: &str = "880000000000000002";
const EXEC_ORG: &str = "880000000000000004";
const ROTATED_SECRET: &str = "chaos-rotated-client-secret-value";
const SEED: u64 = 42;

/// (user, org or None when not in Code42) for the 1,000 backfill WorkSpaces:
/// 700 to move, 150 already placed, 100 not in Code42 yet, 50 protected.
fn backfill_people() -> Vec<(String, Option<&'static str>)> {
    (0..1000)
        .map(|i| {
            let org = match i % 20 {
                0..=13 => Some(DEFAULT_ORG),
                14..=16 => Some(WORKSPACES_ORG_GUID),
                17 | 18 => None,
                _ => Some(EXEC_ORG),
            };
            (format!("b{i:04}"), org)
        })
        .collect()
}

/// Run the CLI in the chaos region, logging at info; (exit code, stdout, stderr).
fn cli_run(env: &HashMap<String, String>, args: &[&str]) -> (i32, String, String) {
    cli_in(REGION, "info", env, args)
}

#[tokio::test(flavor = "multi_thread")]
async fn chaos_backfill_and_replayed_events_end_in_the_expected_state() {
    let started = std::time::Instant::now();
    let people = backfill_people();
    let event_users: Vec<String> = (0..200).map(|i| format!("e{i:04}")).collect();
    let mut users: Vec<Value> = people
        .iter()
        .enumerate()
        .filter_map(|(i, (name, org))| {
            org.map(|o| user(&format!("ub{i}"), &format!("{name}@{DOMAIN}"), o))
        })
        .collect();
    users.extend(
        event_users
            .iter()
            .enumerate()
            .map(|(i, name)| user(&format!("ue{i}"), &format!("{name}@{DOMAIN}"), DEFAULT_ORG)),
    );
    let mut seed = tenant(json!(users));
    // A customer entry on the WorkSpaces org itself, unlocked, with an apostrophe.
    seed["settings"]["1003"] =
        json!({WATCH_KEY: {"value": "['E:/Data/O'Brien/']", "locked": false, "scope": "ORG"}});
    let sim = Sim::start(&seed);
    let backfill_fleet = fleet_in_region(
        REGION,
        DOMAIN,
        &people
            .iter()
            .map(|(n, _)| (n.clone(), WIN))
            .collect::<Vec<_>>(),
    );
    let directory = backfill_fleet.directory_id.clone();
    let secret = secret_in(REGION, &sim, "chaos");
    let env = env(
        &secret,
        &[
            ("CODE42_CONCURRENCY", "32"),
            ("CODE42_MAX_RPS", "0"),
            ("CODE42_REQUEST_TIMEOUT_SECONDS", "1"),
            ("CODE42_PROTECTED_ORGS", "Executives"),
        ],
    );
    let seeded_in = started.elapsed();

    sim.chaos(json!({"seed": SEED, "p": {"429": 0.015, "5xx": 0.015, "slow": 0.003, "drop": 0.008, "redirect": 0.002},
        "slow_ms": 1500, "storm_max": 3}))
        .await;
    let mut outputs: Vec<String> = Vec::new();

    // The cap: a backfill that would move more than --max-moves moves nobody.
    let (code, out, err) = cli_run(
        &env,
        &[
            "backfill",
            "--directory-id",
            &directory,
            "--max-moves",
            "100",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("more than max_moves=100"), "{out}");
    assert_eq!(moves(&sim).await.len(), 0, "nobody moved above the cap");
    outputs.extend([out, err]);

    // Backfill rounds, as an operator re-runs a failed backfill, until every
    // placeable user is placed; mid-way through the first, tokens are revoked
    // and the client secret rotated (Secrets Manager first, then Code42).
    let placeable = people
        .iter()
        .filter(|(_, o)| *o == Some(DEFAULT_ORG))
        .count();
    let mut rounds = Vec::new();
    loop {
        let env_round = env.clone();
        let dir = directory.clone();
        let run = tokio::task::spawn_blocking(move || {
            cli_run(
                &env_round,
                &[
                    "backfill",
                    "--directory-id",
                    &dir,
                    "--max-moves",
                    "700",
                    "--output",
                    "json",
                ],
            )
        });
        if rounds.is_empty() {
            rotate_mid_run(&sim, &secret).await;
        }
        let round_started = std::time::Instant::now();
        let (code, out, err) = run.await.unwrap();
        let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let summary = report.get("result").unwrap_or(&report)["summary"].clone();
        let error = report["error"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(160)
            .collect::<String>();
        rounds.push(format!(
            "exit {code} in {:.1?} {summary} {error}",
            round_started.elapsed()
        ));
        outputs.extend([out, err]);
        let placed = moves(&sim)
            .await
            .iter()
            .filter(|(_, from, to)| from != to)
            .count();
        if placed == placeable {
            break;
        }
        assert!(rounds.len() < 6, "not converging: {rounds:?}");
    }

    // 200 creation events, each delivered twice, retried like the platform would.
    let seeded = seed_aws(json!({"region": REGION, "workspaces": event_users.iter()
        .map(|n| json!({"user": n, "os": WIN, "directory_id": directory}))
        .collect::<Vec<_>>()}));
    let event_fleet = Fleet {
        directory_id: directory.clone(),
        workspaces: seeded_workspaces(&seeded),
    };
    assert_eq!(event_fleet.workspaces.len(), 200);
    let app = app_in(REGION, &env).await;
    let mut event_outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut retries = 0;
    for (id, name) in event_fleet.workspaces.iter().flat_map(|w| [w, w]) {
        let single = Fleet {
            directory_id: event_fleet.directory_id.clone(),
            workspaces: vec![(id.clone(), name.clone())],
        };
        let event = creation_event(&single);
        let mut attempts = 0;
        let report = loop {
            attempts += 1;
            match app.handle(&event, deadline(30)).await {
                Ok(output) => break output.report,
                Err(failure) => {
                    outputs.push(failure.to_json().to_string());
                    assert!(
                        attempts < 8,
                        "event for {id} never succeeded: {}",
                        failure.error
                    );
                    retries += 1;
                }
            }
        };
        outputs.push(serde_json::to_string(&report).unwrap());
        for w in &report.workspaces {
            *event_outcomes
                .entry(w.status.as_str().to_string())
                .or_default() += 1;
        }
    }
    let fault_counts = sim.counters().await["chaos"].clone();
    sim.chaos(json!({})).await;

    // The simulator's final state is exactly the expected one.
    let state = sim.state().await;
    let org_of: HashMap<String, String> = state["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["username"].as_str().unwrap().to_string(),
                u["orgGuid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (name, org) in &people {
        let expected = match *org {
            Some(DEFAULT_ORG) | Some(WORKSPACES_ORG_GUID) => Some(WORKSPACES_ORG_GUID),
            Some(other) => Some(other),
            None => None,
        };
        assert_eq!(
            org_of.get(&format!("{name}@{DOMAIN}")).map(String::as_str),
            expected,
            "{name}"
        );
    }
    for name in &event_users {
        assert_eq!(
            org_of[&format!("{name}@{DOMAIN}")],
            WORKSPACES_ORG_GUID,
            "{name}"
        );
    }
    let moved = moves(&sim).await;
    let mut per_user: HashMap<String, usize> = HashMap::new();
    for (user, from, to) in &moved {
        if from != to {
            *per_user.entry(user.clone()).or_default() += 1;
        }
    }
    assert_eq!(per_user.len(), 700 + 200, "every placeable user moved");
    assert!(per_user.values().all(|n| *n == 1), "no user moved twice");
    let setting = &state["settings"]["1003"][WATCH_KEY];
    assert_eq!(setting["value"], "['E:/Data/O'Brien/', ':main', 'D:']");
    assert_eq!(setting["locked"], true);
    let puts: Vec<Value> = sim
        .writes()
        .await
        .into_iter()
        .filter(|w| w["method"] == "PUT")
        .map(|w| w["body"].clone())
        .collect();
    assert!(
        !puts.is_empty() && puts.iter().all(|b| *b == puts[0]),
        "one merged value written: {puts:?}"
    );

    // An audit without faults: every WorkSpace in exactly one status.
    let (code, out, err) = cli_run(
        &env,
        &["verify", "--directory-id", &directory, "--output", "json"],
    );
    outputs.extend([out.clone(), err]);
    assert_eq!(code, 2, "users not in Code42 yet keep verify at 2: {out}");
    let audit: Value = serde_json::from_str(&out).unwrap();
    let summary = &audit["summary"];
    assert_eq!(summary["total"], 1200);
    assert_eq!(
        (
            summary["compliant"].as_u64(),
            summary["deferred"].as_u64(),
            summary["skipped"].as_u64()
        ),
        (Some(700 + 150 + 200), Some(100), Some(50)),
        "{summary}"
    );
    assert_eq!(audit["org"]["status"], "compliant");

    // No secret or token in anything printed or returned.
    let tokens = sim.issued_tokens().await;
    for text in &outputs {
        for needle in [CLIENT_SECRET, ROTATED_SECRET] {
            assert!(!text.contains(needle), "a client secret leaked");
        }
        for token in &tokens {
            assert!(!text.contains(token.as_str()), "a token leaked");
        }
    }

    println!("chaos (seed {SEED}): faults injected {fault_counts}");
    println!(
        "backfill: the over-cap run refused, then {} round(s):",
        rounds.len()
    );
    for round in &rounds {
        println!("  {round}");
    }
    println!("events: 400 deliveries, {retries} platform retries; outcomes {event_outcomes:?}");
    println!("final audit: {summary}");
    println!(
        "moves: {} effective, {} POSTs; tokens issued: {}; seeding {:.1?}, total {:.1?}",
        per_user.len(),
        moved.len(),
        tokens.len(),
        seeded_in,
        started.elapsed()
    );
}

/// (user id, from org, to org) of every move the simulator applied.
async fn moves(sim: &Sim) -> Vec<(String, String, String)> {
    sim.writes()
        .await
        .into_iter()
        .filter(|w| w["method"] == "POST")
        .map(|w| {
            (
                w["user"].as_str().unwrap().to_string(),
                w["from"].as_str().unwrap().to_string(),
                w["to"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Once the run has made some requests: rotate the client secret (Secrets
/// Manager first, then Code42) and revoke every token.
async fn rotate_mid_run(sim: &Sim, secret: &str) {
    loop {
        if sim.counters().await["total"].as_u64().unwrap() > 400 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    aws_sdk_secretsmanager::Client::new(&moto_sdk(REGION).await)
        .put_secret_value()
        .secret_id(secret)
        .secret_string(
            json!({"api_url": sim.url, "api_client_id": CLIENT_ID, "api_client_secret": ROTATED_SECRET})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    sim.rotate_clients(json!([{"id": CLIENT_ID, "secret": ROTATED_SECRET}]))
        .await;
    sim.revoke_tokens().await;
}
