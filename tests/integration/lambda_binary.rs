//! The real `bootstrap` under a Lambda Runtime API emulator (a small HTTP/1.1
//! server on loopback, in the test): the events Lambda would deliver, the
//! responses and error documents the function posts back, the deadline it
//! is handed, and the EMF lines it prints on stdout.

use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};

use crate::harness::*;

const RUNTIME: &str = "/2018-06-01/runtime";

/// One event to deliver: its payload and how long the invocation may run.
struct Invocation {
    id: String,
    payload: Value,
    time_limit: Duration,
}

/// What the function posted back for one invocation.
#[derive(Debug)]
struct Posted {
    id: String,
    /// `response` or `error`.
    kind: String,
    error_type_header: Option<String>,
    body: Value,
}

struct Emulator {
    port: u16,
    results: mpsc::UnboundedReceiver<Posted>,
}

impl Emulator {
    /// Serve `invocations` in order; a `next` after the last one waits forever
    /// (as Lambda does while no event comes).
    async fn start(invocations: Vec<Invocation>) -> Emulator {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let queue = Arc::new(Mutex::new(VecDeque::from(invocations)));
        let (tx, results) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, queue.clone(), tx.clone()));
            }
        });
        Emulator { port, results }
    }

    /// The next posted result, or a panic after a bound (the function hung).
    async fn next(&mut self) -> Posted {
        tokio::time::timeout(Duration::from_secs(60), self.results.recv())
            .await
            .expect("the function posted a result within 60 s")
            .expect("the emulator is running")
    }
}

/// One request: method, path, lower-cased headers, body.
struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// Read one HTTP/1.1 request from `buffer` + the stream (keep-alive: what is
/// left over stays in `buffer`). None when the client closed the connection.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Request> {
    let end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..end]).to_string();
    buffer.drain(..end + 4);
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        read_chunked(stream, buffer).await?
    } else {
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        fill(stream, buffer, length).await?;
        buffer.drain(..length).collect()
    };
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// Make `buffer` hold at least `n` bytes.
async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>, n: usize) -> Option<()> {
    while buffer.len() < n {
        let mut chunk = [0u8; 8192];
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    Some(())
}

async fn read_chunked(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = buffer.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            let have = buffer.len();
            fill(stream, buffer, have + 1).await?;
        };
        let size_text = String::from_utf8_lossy(&buffer[..line_end]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        buffer.drain(..line_end + 2);
        if size == 0 {
            // Trailers (Lambda-Runtime-Function-Error-Type may come here) end with a blank line.
            loop {
                fill(stream, buffer, 2).await?;
                let i = loop {
                    if let Some(i) = buffer.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    let have = buffer.len();
                    fill(stream, buffer, have + 1).await?;
                };
                buffer.drain(..i + 2);
                if i == 0 {
                    return Some(body);
                }
            }
        }
        fill(stream, buffer, size + 2).await?;
        body.extend(buffer.drain(..size));
        buffer.drain(..2);
    }
}

async fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\ncontent-type: application/json\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
}

async fn serve(
    mut stream: TcpStream,
    queue: Arc<Mutex<VecDeque<Invocation>>>,
    results: mpsc::UnboundedSender<Posted>,
) {
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buffer).await {
        let path = request.path.trim_start_matches(RUNTIME);
        if request.method == "GET" && path == "/invocation/next" {
            let next = queue.lock().unwrap().pop_front();
            let Some(invocation) = next else {
                // No more events: never answer (the test ends the process).
                Notify::new().notified().await;
                return;
            };
            let deadline = SystemTime::now() + invocation.time_limit;
            let deadline_ms = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis();
            let headers = [
                ("lambda-runtime-aws-request-id", invocation.id.clone()),
                ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:workspaces-code42".into(),
                ),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".into(),
                ),
            ];
            respond(
                &mut stream,
                "200 OK",
                &headers,
                invocation.payload.to_string().as_bytes(),
            )
            .await;
            continue;
        }
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if request.method == "POST"
            && let ["invocation", id, kind @ ("response" | "error")] = parts.as_slice()
        {
            let body = serde_json::from_slice(&request.body).unwrap_or_else(
                |_| json!({"unparsed": String::from_utf8_lossy(&request.body).to_string()}),
            );
            let _ = results.send(Posted {
                id: id.to_string(),
                kind: kind.to_string(),
                error_type_header: request
                    .headers
                    .get("lambda-runtime-function-error-type")
                    .cloned(),
                body,
            });
            respond(&mut stream, "202 Accepted", &[], b"{\"status\":\"OK\"}").await;
            continue;
        }
        if request.method == "POST" && path == "/init/error" {
            let _ = results.send(Posted {
                id: "init".into(),
                kind: "init_error".into(),
                error_type_header: None,
                body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
            });
            respond(&mut stream, "202 Accepted", &[], b"{}").await;
            continue;
        }
        respond(&mut stream, "404 Not Found", &[], b"{}").await;
    }
}

/// The metric values of the EMF record printed for an invocation's input kind.
fn emf_of<'a>(stdout: &'a [Value], input: &str) -> &'a Value {
    stdout
        .iter()
        .find(|r| r["Input"] == input && r.get("Reason").is_none())
        .unwrap_or_else(|| panic!("no EMF record for {input} in {stdout:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bootstrap_binary_answers_the_runtime_api_as_lambda_expects() {
    let sim = Sim::start(&tenant(json!([
        user("lb-1", "lambdauser@corp.example.com", "880000000000000002"),
        user("lb-2", "lambdaother@corp.example.com", "880000000000000002"),
    ])));
    let fleet = fleet(&[("lambdauser", WIN), ("lambdaother", WIN)]);
    let one = |i: usize| Fleet {
        directory_id: fleet.directory_id.clone(),
        workspaces: vec![fleet.workspaces[i].clone()],
    };
    let minute = Duration::from_secs(60);
    let invocations = vec![
        // A creation event: the user moved, the report returned.
        Invocation {
            id: "req-create".into(),
            payload: creation_event(&one(0)),
            time_limit: minute,
        },
        // An SQS batch with one message that cannot be handled.
        Invocation {
            id: "req-sqs".into(),
            payload: json!({"Records": [
                sqs_record("m-ok", &json!({"workspace_id": fleet.workspaces[1].0, "reason": "backfill"}).to_string()),
                sqs_record("m-bad", "{\"workspace_id\": 42}"),
            ]}),
            time_limit: minute,
        },
        // Near its deadline: 2 s Lambda margin + the 5 s start margin leave
        // no time to begin the WorkSpace: a retryable failure.
        Invocation {
            id: "req-late".into(),
            payload: creation_event(&one(0)),
            time_limit: Duration::from_secs(4),
        },
        // Nothing this function handles: a non-retryable failure.
        Invocation {
            id: "req-alien".into(),
            payload: json!({"hello": "world"}),
            time_limit: minute,
        },
        // A creation event from an account this function does not serve
        // (its ARN says 123456789012): refused before any call.
        Invocation {
            id: "req-foreign".into(),
            payload: {
                let mut e = creation_event(&one(0));
                e["account"] = json!("999999999999");
                e
            },
            time_limit: minute,
        },
    ];
    let mut emulator = Emulator::start(invocations).await;
    let secret = secret_for(&sim, "lambda-binary");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .envs(env(&secret, &[("CODE42_START_MARGIN_SECONDS", "5")]))
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("127.0.0.1:{}", emulator.port),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "workspaces-code42")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("bootstrap starts");
    // Read its output as it comes: a full pipe would block the function
    // (its debug logs outgrow the pipe's buffer).
    let drain = |pipe: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        tokio::spawn(async move {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text).await;
            }
            String::from_utf8_lossy(&text).to_string()
        })
    };
    let stdout_reader = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr_reader = drain(child.stderr.take().map(|p| Box::new(p) as _));

    let created = emulator.next().await;
    assert_eq!(
        (created.id.as_str(), created.kind.as_str()),
        ("req-create", "response")
    );
    assert_eq!(
        statuses(&created.body),
        ["configured"],
        "{:?}",
        created.body
    );
    assert_eq!(sim.user_org("lb-1").await, WORKSPACES_ORG_GUID);

    let batch = emulator.next().await;
    assert_eq!(
        (batch.id.as_str(), batch.kind.as_str()),
        ("req-sqs", "response")
    );
    assert_eq!(
        batch.body,
        json!({"batchItemFailures": [{"itemIdentifier": "m-bad"}]})
    );
    assert_eq!(sim.user_org("lb-2").await, WORKSPACES_ORG_GUID);

    let late = emulator.next().await;
    assert_eq!(
        (late.id.as_str(), late.kind.as_str()),
        ("req-late", "error")
    );
    assert_eq!(late.body["errorType"], "Retryable", "{:?}", late.body);
    assert_eq!(late.error_type_header.as_deref(), Some("unhandled"));
    let message: Value = serde_json::from_str(late.body["errorMessage"].as_str().unwrap())
        .expect("the error message is the failure document (JSON)");
    assert_eq!(message["retryable"], true, "{message}");
    assert!(
        message["error"].as_str().unwrap().contains("not begun"),
        "{message}"
    );

    let alien = emulator.next().await;
    assert_eq!(
        (alien.id.as_str(), alien.kind.as_str()),
        ("req-alien", "error")
    );
    assert_eq!(alien.body["errorType"], "NonRetryable", "{:?}", alien.body);
    let message: Value =
        serde_json::from_str(alien.body["errorMessage"].as_str().unwrap()).unwrap();
    assert_eq!(message["retryable"], false);
    assert!(
        message["error"]
            .as_str()
            .unwrap()
            .contains("received a JSON object with keys [hello]"),
        "{message}"
    );

    let total_before = sim.counters().await["total"].clone();
    let foreign = emulator.next().await;
    assert_eq!(
        (foreign.id.as_str(), foreign.kind.as_str()),
        ("req-foreign", "error")
    );
    assert_eq!(
        foreign.body["errorType"], "NonRetryable",
        "{:?}",
        foreign.body
    );
    let message = foreign.body["errorMessage"].as_str().unwrap();
    assert!(
        message.contains(
            "account 999999999999 in region us-east-1, which this deployment does not serve (it serves account(s) 123456789012 in region(s) us-east-1)"
        ),
        "{message}"
    );
    assert_eq!(
        sim.counters().await["total"],
        total_before,
        "no Code42 request for a refused event"
    );

    // Every invocation's EMF record is on stdout, with what it did.
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let stdout = stdout_reader.await.unwrap();
    let stderr = stderr_reader.await.unwrap();
    let records: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(
        records.iter().filter(|r| r.get("Reason").is_none()).count(),
        5,
        "one main record per invocation: {stdout}"
    );
    let create = emf_of(&records, "CreateWorkspaces");
    assert_eq!(create["UsersMoved"], 1, "{create}");
    assert_eq!(create["InvocationsFailed"], 0, "{create}");
    assert_eq!(emf_of(&records, "SqsBatch")["UsersMoved"], 1);
    let refused: Vec<&Value> = records
        .iter()
        .filter(|r| r["Input"] == "unrecognised" && r.get("Reason").is_none())
        .collect();
    assert_eq!(refused.len(), 2, "the alien payload and the foreign event");
    for r in refused {
        assert_eq!(
            (r["InvocationsFailed"].as_u64(), r["InputsRefused"].as_u64()),
            (Some(1), Some(1))
        );
    }
    assert_eq!(
        emf_of(&records, "SqsBatch")["InputsRefused"],
        1,
        "the bad message"
    );
    // Debug logs and EMF included, no secret or token reaches any output.
    assert!(
        stdout.contains("DEBUG") || stderr.contains("DEBUG"),
        "debug logs were written (the leak check covers them)"
    );
    let tokens = sim.issued_tokens().await;
    assert!(!tokens.is_empty());
    for text in [&stdout, &stderr] {
        assert!(!text.contains(CLIENT_SECRET), "client secret leaked");
        for token in &tokens {
            assert!(!text.contains(token.as_str()), "a token leaked");
        }
    }
}
