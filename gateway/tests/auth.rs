//! Authentication on the real HTTP stack: bearer tokens name a source and its scopes;
//! missing or unknown tokens get 401 (with `WWW-Authenticate`), a token without the
//! route's scope 403, all as JSON errors and counted; probes and metrics stay open; a
//! token never appears in the log. Without tokens the binary serves loopback only.

use crate::common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use firebreak_gateway::app::{EmbedderChoice, Gateway};
use firebreak_gateway::auth::Tokens;
use firebreak_gateway::pipeline::embedding::remote::RemoteConfig;
use serde_json::{json, Value};

const ALERTS: &str = "am-token-5f0c1d2e3b4a";
const AGENT: &str = "agent-token-9e8d7c6b5a";

/// Serves a gateway; keep the returned handles alive while the URL is used.
async fn serve(tokens: Tokens) -> (String, Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path(), "unused");
    cfg.embedder = EmbedderChoice::Remote {
        cfg: RemoteConfig { url: "http://127.0.0.1:1".into(), model: "nowhere".into(), dim: 384, timeout: Duration::from_secs(1) },
        tokenizer: None,
        max_seq_length: 256,
    };
    cfg.tokens = Arc::new(tokens);
    let gw = Gateway::start(cfg).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = gw.router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, gw, dir)
}

async fn call(url: &str, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<String>) -> (u16, Option<String>, Value) {
    let r = common::http::call(method, format!("{url}{path}"), token, body).await;
    let www = r.headers.get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (r.status, www, r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_scopes_guard_every_api_route() {
    let tokens = Tokens::parse(&format!("alertmanager alerts:write {ALERTS}\nsre-agent search:read,notes:write {AGENT}")).unwrap();
    let (url, _gw, _dir) = serve(tokens).await;
    use reqwest::Method as M;
    let (_, hook) = common::webhook("firing", &[("fp1", "KubePodCrashLooping", "restarting")]);
    let search = json!({"query": "crash", "mode": "keyword"}).to_string();

    // No token, a wrong one: 401 with a challenge.
    for token in [None, Some("not-a-token-at-all-xyz")] {
        let (s, www, v) = call(&url, M::POST, "/v1/alerts", token, Some(hook.clone())).await;
        assert_eq!((s, v["error"].as_str()), (401, Some("unauthorized")), "{v}");
        assert!(www.unwrap().starts_with("Bearer"));
    }
    // The right token on the right route.
    let (s, _, v) = call(&url, M::POST, "/v1/alerts", Some(ALERTS), Some(hook.clone())).await;
    assert_eq!(s, 200, "{v}");
    let (s, _, v) = call(&url, M::POST, "/v1/search", Some(AGENT), Some(search.clone())).await;
    assert_eq!(s, 200, "{v}");
    // A real token without the route's scope: 403 naming the scope.
    let cases = [
        (M::POST, "/v1/search", ALERTS, Some(search.clone()), "search:read"),
        (M::POST, "/v1/alerts", AGENT, Some(hook.clone()), "alerts:write"),
        (M::POST, "/v1/ingest", AGENT, Some("{}".into()), "ingest:write"),
        (M::POST, "/v1/embeddings", AGENT, Some(json!({"input": "x"}).to_string()), "embeddings"),
        (M::POST, "/v1/incidents/1/notes", ALERTS, Some(json!({"text": "x"}).to_string()), "notes:write"),
        (M::GET, "/v1/incidents", ALERTS, None, "search:read"),
        (M::GET, "/v1/status", ALERTS, None, "search:read"),
    ];
    for (method, path, token, body, scope) in cases {
        let (s, _, v) = call(&url, method, path, Some(token), body).await;
        assert_eq!((s, v["error"].as_str()), (403, Some("forbidden")), "{path}: {v}");
        assert!(v["detail"].as_str().unwrap().contains(scope), "{path}: {v}");
    }
    let (s, _, v) = call(&url, M::POST, "/v1/incidents/1/notes", Some(AGENT), Some(json!({"text": "restarted it"}).to_string())).await;
    assert_eq!(s, 201, "{v}");

    // Probes, metrics and the API description stay open.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let r = reqwest::get(format!("{url}{path}")).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let metrics = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    for (reason, n) in [("missing", 1), ("invalid", 1), ("scope", 7)] {
        assert!(metrics.contains(&format!("firebreak_auth_denied_total{{reason=\"{reason}\"}} {n}")), "{reason}:\n{metrics}");
    }
    // Every answer above is in the RED metrics, refusals included, by route template
    // (the notes route once, whatever the id) and status; a path no route has is
    // `unmatched`, never itself.
    let (s, _, _) = call(&url, M::GET, "/wp-admin/setup.php", None, None).await;
    assert_eq!(s, 404);
    let metrics = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    let requests = |route: &str, method: &str, status: u16| format!("firebreak_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}}");
    for (line, n) in [
        (requests("/v1/alerts", "POST", 401), 2),
        (requests("/v1/alerts", "POST", 200), 1),
        (requests("/v1/alerts", "POST", 403), 1),
        (requests("/v1/search", "POST", 200), 1),
        (requests("/v1/incidents/{id}/notes", "POST", 403), 1),
        (requests("/v1/incidents/{id}/notes", "POST", 201), 1),
        (requests("/healthz", "GET", 200), 1),
        (requests("unmatched", "GET", 404), 1),
    ] {
        assert!(metrics.lines().any(|l| l == format!("{line} {n}")), "no {line} {n} in:\n{metrics}");
    }
    assert!(!metrics.contains("wp-admin"), "{metrics}");
    for bucket in ["0.001", "0.01", "0.1", "1.0", "10.0"] {
        let line = format!("firebreak_http_request_duration_seconds_bucket{{le=\"{bucket}\",route=\"/v1/search\"}}");
        assert!(metrics.contains(&line), "no {line} in:\n{metrics}");
    }
    let build = metrics.lines().find(|l| l.starts_with("firebreak_build_info{")).unwrap_or_else(|| panic!("no build info:\n{metrics}"));
    assert!(build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))) && build.contains("commit=\"") && build.ends_with(" 1"), "{build}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tokens_every_caller_is_anonymous_on_loopback() {
    let (url, _gw, _dir) = serve(Tokens::default()).await;
    let (_, hook) = common::webhook("firing", &[("fp1", "A", "b")]);
    let (s, _, v) = call(&url, reqwest::Method::POST, "/v1/alerts", None, Some(hook)).await;
    assert_eq!(s, 200, "{v}");
}

fn firebreak(args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_firebreak"));
    c.arg("serve").args(args).env("FIREBREAK_LOG", "info").env_remove("FIREBREAK_TOKENS");
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap()
}

#[test]
fn the_binary_refuses_an_open_network_listener_and_never_logs_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let remote = ["--embedder-url", "http://127.0.0.1:1", "--data-dir", &data];

    let mut args = vec!["--listen", "0.0.0.0:0"];
    args.extend(remote);
    let out = firebreak(&args, &[]).wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("without authentication"), "{err}");

    // With tokens (here from the environment) it serves; the log names sources, not tokens.
    let mut child = firebreak(&args, &[("FIREBREAK_TOKENS", &format!("alertmanager alerts:write {ALERTS}"))]);
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = Vec::new();
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let done = line.contains("firebreak serving");
            seen.push(line);
            if done {
                break;
            }
        }
        seen
    });
    let log = reader.join().unwrap().join("\n");
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("firebreak serving"), "{log}");
    assert!(log.contains("authentication on"), "{log}");
    assert!(!log.contains(ALERTS), "a token was logged:\n{log}");
}
