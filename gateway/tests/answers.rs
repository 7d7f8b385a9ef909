//! Answers (`/v1/chat/completions`), in-process on the real models: the extractive answer
//! from the search results, the generated one from the real SmolLM2 with its citations,
//! the fallbacks when the LLM cannot be used (a peer that accepts and never answers — the
//! one fake here —, a spent token budget, strict mode), generated answers back once a real
//! LLM answers behind the hung one's URL, and OpenAI-shaped errors.

use crate::common;

use std::time::{Duration, Instant};

use firebreak_gateway::app::{GatewayConfig, LlmChoice};
use firebreak_gateway::query::answer::llm::remote::RemoteLlmConfig;
use firebreak_gateway::guards::budget::Allowance;
use serde_json::{json, Value};

async fn post(url: &str, path: &str, body: Value) -> (u16, reqwest::header::HeaderMap, String) {
    let r = reqwest::Client::new().post(format!("{url}{path}")).json(&body).send().await.unwrap();
    let (s, h) = (r.status().as_u16(), r.headers().clone());
    (s, h, r.text().await.unwrap())
}

async fn chat(url: &str, body: Value) -> (u16, Value) {
    let (s, _, text) = post(url, "/v1/chat/completions", body).await;
    (s, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn ask(model: &str, q: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": q}], "max_tokens": 48})
}

/// Stores one incident with a note saying what fixed it; returns its id once searchable.
async fn seed(url: &str) -> i64 {
    let hook = json!({
        "version": "4", "status": "resolved", "receiver": "firebreak", "groupKey": "g",
        "alerts": [{"status": "resolved", "fingerprint": "fp-postfix",
            "labels": {"alertname": "KubePodCrashLooping", "namespace": "mail", "severity": "warning", "pod": "postfix-0"},
            "annotations": {"summary": "Pod is crash looping.", "description": "Pod mail/postfix-0 is restarting: OOMKilled, exit code 137."},
            "startsAt": "2026-11-01T03:12:00Z", "endsAt": "2026-11-01T04:00:00Z"}]
    });
    let (s, _, body) = post(url, "/v1/alerts", hook).await;
    assert_eq!(s, 200, "{body}");
    let list: Value = reqwest::get(format!("{url}/v1/incidents")).await.unwrap().json().await.unwrap();
    let id = list["incidents"][0]["id"].as_i64().unwrap();
    let note = json!({"text": "Postfix was OOMKilled under the spam burst: raised its memory limit from 128Mi to 512Mi in the mail chart.", "author": "alice"});
    let (s, _, body) = post(url, &format!("/v1/incidents/{id}/notes"), note).await;
    assert!(s == 201 || s == 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, _, r) = post(url, "/v1/search", json!({"query": "postfix memory limit", "kinds": ["incident"]})).await;
        let r: Value = serde_json::from_str(&r).unwrap();
        if r["results"].as_array().is_some_and(|a| a.iter().any(|h| h["why"]["field"] == "notes")) && r["keyword_only"] == 0 {
            return id;
        }
        assert!(Instant::now() < deadline, "the note was never indexed: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A gateway whose LLM accepts connections and never answers (the one fake here: a hung
/// server cannot be made otherwise), with a first-token deadline of `first_token`.
async fn hung_llm(dir: &std::path::Path, first_token: Duration) -> GatewayConfig {
    let mut cfg = common::one_core_gateway(dir);
    cfg.answers.llm = LlmChoice::Remote(RemoteLlmConfig {
        url: common::http::hung_embedder().await,
        model: "hung".into(),
        api_key: None,
        connect_timeout: Duration::from_secs(1),
    });
    cfg.answers.lane.first_token_timeout = first_token;
    cfg
}

fn citations(v: &Value) -> Vec<i64> {
    v["firebreak"]["citations"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_llm_answers_are_extractive_and_cite_the_incident() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _gw) = common::serve_gateway(common::one_core_gateway(dir.path())).await;
    let id = seed(&url).await;

    let models: Value = reqwest::get(format!("{url}/v1/models")).await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["firebreak", "firebreak-extractive"]);

    let (s, v) = chat(&url, ask("firebreak-extractive", "postfix keeps restarting with exit code 137, have we seen this before?")).await;
    assert_eq!(s, 200, "{v}");
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(text.contains("Seen before") && text.contains("512Mi") && text.contains("[1]"), "{text}");
    assert_eq!(citations(&v)[0], id);
    assert_eq!((v["firebreak"]["mode"].as_str(), v["firebreak"]["degraded"].as_bool()), (Some("extractive"), Some(false)), "asked for: {v}");

    // The generated model asked for, none configured: the same answer, degraded, saying why.
    let (s, v) = chat(&url, ask("firebreak", "postfix keeps restarting with exit code 137, have we seen this before?")).await;
    assert_eq!(s, 200);
    assert_eq!(v["firebreak"]["degraded"], true);
    assert!(v["firebreak"]["reason"].as_str().unwrap().contains("no LLM"), "{v}");
    assert_eq!(v["choices"][0]["message"]["content"].as_str().unwrap(), text, "the same deterministic answer");

    // A pasted alert is searched as an alert.
    let pasted = r#"what fixed this last time? {"labels":{"alertname":"KubePodCrashLooping","namespace":"mail"},"annotations":{"description":"Pod mail/postfix-1 is restarting: OOMKilled."}}"#;
    let (_, v) = chat(&url, ask("firebreak-extractive", pasted)).await;
    assert_eq!(citations(&v)[0], id, "{v}");

    // Streamed: role, text, the final chunk with the citations, usage, [DONE].
    let mut streamed = ask("firebreak-extractive", "postfix OOMKilled, seen before?");
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (s, h, body) = post(&url, "/v1/chat/completions", streamed).await;
    assert_eq!(s, 200);
    assert!(h["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let events: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    let fin = chunks.iter().find(|c| c["choices"][0]["finish_reason"].is_string()).expect("a final chunk");
    assert_eq!(citations(fin)[0], id);
    assert!(chunks.last().unwrap()["usage"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_openai_errors_and_a_refusing_lane_answers_extractively() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = hung_llm(dir.path(), Duration::from_millis(800)).await;
    cfg.answers.lane.breaker.slow_call = Some(Duration::from_millis(800));
    cfg.answers.lane.breaker.slow_floor = Duration::from_millis(300);
    cfg.answers.lane.breaker.failures = 2;
    cfg.answers.lane.breaker.open_min = Duration::from_secs(60);
    cfg.api.rates.answers = Some(firebreak_gateway::api::Rate::new(1, 11));
    let (url, _gw) = common::serve_gateway(cfg).await;

    for (body, status, code) in [
        (json!({"messages": []}), 400, "empty_messages"),
        (json!({"messages": [{"role": "system", "content": "be nice"}]}), 400, "no_user_message"),
        (json!({"messages": [{"role": "user", "content": 7}]}), 400, "invalid_type"),
        (json!({"messages": [{"role": "tool", "content": "x"}]}), 400, "unsupported_role"),
        (json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}), 400, "unsupported_content"),
        (json!({"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}), 404, "model_not_found"),
        (json!({"messages": [{"role": "user", "content": "x".repeat(1 << 20)}]}), 400, "context_length_exceeded"),
    ] {
        let (s, v) = chat(&url, body).await;
        assert_eq!((s, v["error"]["code"].as_str()), (status, Some(code)), "{v}");
        assert!(v["error"]["message"].is_string() && v["error"]["type"].is_string(), "{v}");
    }
    let (s, _, text) = post(&url, "/v1/chat/completions", json!("{")).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("invalid_type")), "{text}");

    // The LLM accepts and never answers: each answer comes extractive at the first-token
    // deadline, and after two the breaker is open and answers come at once.
    for _ in 0..2 {
        let t = Instant::now();
        let (s, v) = chat(&url, ask("firebreak", "why is the mail server down?")).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["firebreak"]["mode"], "extractive");
        assert!(v["firebreak"]["reason"].as_str().unwrap().contains("first token"), "{v}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }
    let t = Instant::now();
    let (_, v) = chat(&url, ask("firebreak", "why is the mail server down?")).await;
    assert!(v["firebreak"]["reason"].as_str().unwrap().contains("circuit breaker"), "{v}");
    assert!(t.elapsed() < Duration::from_millis(700), "an open breaker answers without waiting: {:?}", t.elapsed());
    let m = common::http::metrics(&url).await;
    assert!(m.contains(r#"firebreak_breaker_state{dependency="llm"} 1"#), "{m}");
    assert!(m.contains(r#"firebreak_llm_refused_total{reason="breaker_open"}"#), "{m}");

    // The route's rate (11 in a burst here) refuses the twelfth in OpenAI's shape.
    let (s, h, body) = post(&url, "/v1/chat/completions", ask("firebreak", "again?")).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((s, v["error"]["type"].as_str(), v["error"]["code"].as_str()), (429, Some("rate_limit_error"), Some("rate_limited")), "{body}");
    assert!(h.get("retry-after").is_some());
}

/// LibreChat's title request and Open WebUI's task requests, as those clients send them,
/// are answered from the conversation at once: with an LLM that never answers, none of
/// them waits for it, and none is searched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_uis_housekeeping_requests_never_reach_the_llm() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = hung_llm(dir.path(), Duration::from_secs(10)).await;
    let (url, _gw) = common::serve_gateway(cfg).await;
    let librechat = "Please generate a concise, 5-word-or-less title for the conversation, using its same language, with no punctuation. Apply title case conventions appropriate for the language. Never directly mention the language name or the word \"title\"\n\n||>User:\n\"postfix-0 is OOMKilled again, what fixed it?\"\n||>Response:\n\"Seen before [1]\"\n\n||>Title:";
    let open_webui_tags = "### Task:\nGenerate 1-3 broad tags categorizing the main themes of the chat history, along with 1-3 more specific subtopic tags.\n\n### Output:\nJSON format: { \"tags\": [\"tag1\", \"tag2\", \"tag3\"] }\n\n### Chat History:\n<chat_history>\nUSER: alertname=\"KubePodCrashLooping\", namespace=\"mail\" again?\nASSISTANT: ...\n</chat_history>";
    let t = Instant::now();
    // LibreChat sends its classic title prompt as a system message, with `user`.
    let (s, v) = chat(&url, json!({"model": "firebreak", "user": "6750c0ffee", "messages": [{"role": "system", "content": librechat}]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "Postfix-0 OOMKilled Again Fixed");
    assert_eq!((v["firebreak"]["mode"].as_str(), v["firebreak"]["degraded"].as_bool()), (Some("task"), Some(false)), "{v}");
    assert!(v["firebreak"].get("search_mode").is_none(), "no search ran: {v}");
    let (s, _, body) = post(&url, "/v1/chat/completions", json!({"model": "firebreak", "stream": true, "messages": [{"role": "user", "content": open_webui_tags}]})).await;
    assert_eq!(s, 200);
    let text: String = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect();
    let tags: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(tags["tags"], json!(["Incidents", "KubePodCrashLooping"]));
    assert!(t.elapsed() < Duration::from_secs(3), "the hung LLM was waited for: {:?}", t.elapsed());
    let m = common::http::metrics(&url).await;
    assert!(m.contains(r#"firebreak_answer_client_tasks_total{kind="title"} 1"#), "{m}");
    assert!(m.contains(r#"firebreak_answer_client_tasks_total{kind="tags"} 1"#), "{m}");
    assert!(!m.contains("firebreak_llm_refused_total{"), "the LLM lane was never asked: {m}");
}

/// The LLM hangs (a peer that accepts and never answers), then a real server comes back
/// behind the same URL (`firebreak-embedder serve --chat-model`'s router, the real
/// SmolLM2): answers are extractive at the first-token deadline, the breaker opens, and
/// once the server is back its probe succeeds and answers are generated again, by
/// themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_answers_come_back_by_themselves_when_the_llm_does() {
    let dir = tempfile::tempdir().unwrap();
    let peer = common::http::HungPeer::hung().await;
    let mut cfg = common::one_core_gateway(dir.path());
    cfg.answers.llm = LlmChoice::Remote(RemoteLlmConfig { url: peer.url.clone(), model: "any".into(), api_key: None, connect_timeout: Duration::from_secs(1) });
    // A short prompt (nothing is stored) reads in well under this on one thread.
    cfg.answers.lane.first_token_timeout = Duration::from_secs(4);
    cfg.answers.lane.breaker.slow_call = Some(Duration::from_secs(4));
    cfg.answers.lane.breaker.slow_floor = Duration::from_secs(4);
    cfg.answers.lane.breaker.failures = 2;
    cfg.answers.lane.breaker.open_min = Duration::from_millis(500);
    cfg.answers.lane.breaker.open_max = Duration::from_secs(1);
    cfg.api.rates.answers = None;
    let (url, _gw) = common::serve_gateway(cfg).await;

    for _ in 0..2 {
        let (s, v) = chat(&url, ask("firebreak", "why is the mail server down?")).await;
        assert_eq!((s, v["firebreak"]["mode"].as_str()), (200, Some("extractive")), "{v}");
        assert!(v["firebreak"]["reason"].as_str().unwrap().contains("first token"), "{v}");
    }
    let m = common::http::metrics(&url).await;
    assert!(m.contains(r#"firebreak_breaker_state{dependency="llm"} 1"#), "open after two hung answers: {m}");

    peer.forward_to(common::server::embedder_service(true).await);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, v) = chat(&url, ask("firebreak", "why is the mail server down?")).await;
        assert_eq!(s, 200, "{v}");
        eprintln!("after the LLM came back: {} ({})", v["firebreak"]["mode"], v["firebreak"]["reason"]);
        if v["firebreak"]["mode"] == "generated" {
            assert!(!v["choices"][0]["message"]["content"].as_str().unwrap().trim().is_empty(), "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "answers never came back from the LLM: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let m = common::http::metrics(&url).await;
    assert!(m.contains(r#"firebreak_breaker_state{dependency="llm"} 0"#), "closed again: {m}");
}

fn with_chat_model(dir: &std::path::Path) -> GatewayConfig {
    let mut cfg = common::one_core_gateway(dir);
    cfg.answers.llm = LlmChoice::InProcess(firebreak_embedder::chat::ChatConfig::new(common::server::chat_model_dir()));
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_llm_budget_answers_extractively() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = hung_llm(dir.path(), Duration::from_millis(300)).await;
    cfg.answers.lane.breaker.failures = 10;
    cfg.answers.lane.budget.per_source = Allowance { texts_per_minute: Some(1), tokens_per_minute: None };
    let (url, _gw) = common::serve_gateway(cfg).await;
    let (_, v) = chat(&url, ask("firebreak", "why is the mail server down?")).await;
    assert!(v["firebreak"]["reason"].as_str().unwrap().contains("first token"), "the one answer this minute tried the LLM: {v}");
    let (s, v) = chat(&url, ask("firebreak", "why is the mail server down?")).await;
    assert_eq!((s, v["firebreak"]["mode"].as_str()), (200, Some("extractive")));
    assert!(v["firebreak"]["reason"].as_str().unwrap().contains("budget"), "{v}");
    let m = common::http::metrics(&url).await;
    assert!(m.contains(r#"firebreak_llm_budget_refused_total{scope="anonymous",unit="answers"} 1"#), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_model_answers_with_citations_whole_and_streamed_alike() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _gw) = common::serve_gateway(with_chat_model(dir.path())).await;
    let id = seed(&url).await;

    let q = ask("firebreak", "Postfix is OOMKilled again. Have we seen this before, and what fixed it?");
    let (s, v) = chat(&url, q.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["firebreak"]["mode"].as_str(), v["firebreak"]["degraded"].as_bool()), (Some("generated"), Some(false)), "{v}");
    assert_eq!(citations(&v)[0], id);
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!text.trim().is_empty());
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 50, "the context went in: {v}");
    let sources = text.rsplit("\n\nSources:").next().unwrap();
    assert!(sources.contains("[1] KubePodCrashLooping in mail, fixed by:") && sources.contains("512Mi"), "the recorded fix, word for word: {text}");

    let mut streamed = q.clone();
    streamed["stream"] = json!(true);
    let (s, _, body) = post(&url, "/v1/chat/completions", streamed).await;
    assert_eq!(s, 200);
    let events: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    let streamed_text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(streamed_text, text, "greedy: the stream says what the whole answer said");
    let fin = chunks.iter().find(|c| c["choices"][0]["finish_reason"].is_string()).expect("a final chunk");
    assert_eq!((fin["firebreak"]["mode"].as_str(), citations(fin)[0]), (Some("generated"), id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_refuses_with_429_when_the_lane_cannot_generate() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = with_chat_model(dir.path());
    cfg.answers.answer.strict = true;
    cfg.answers.lane.budget.global = Allowance { texts_per_minute: Some(1), tokens_per_minute: None };
    let (url, _gw) = common::serve_gateway(cfg).await;
    let (s, _) = chat(&url, ask("firebreak", "what is a pod?")).await;
    assert_eq!(s, 200);
    let (s, h, body) = post(&url, "/v1/chat/completions", ask("firebreak", "what is a node?")).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((s, v["error"]["type"].as_str()), (429, Some("rate_limit_error")), "{body}");
    assert!(h.get("retry-after").is_some());
    let (s, v) = chat(&url, ask("firebreak-extractive", "what is a node?")).await;
    assert_eq!((s, v["firebreak"]["mode"].as_str()), (200, Some("extractive")), "extractive is never refused");
}
