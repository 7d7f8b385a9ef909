//! Alert-aware retrieval on the real model, real SQLite and a real qdrant-edge shard: an
//! alert whose cause is told in other words, on a pod that belonged to a different past
//! incident, finds the incident with its cause first, under its own alertname or another,
//! and each result says why, with a relevance that tells a good match from none.

use crate::common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

async fn post(url: &str, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new().post(format!("{url}{path}")).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

fn alert(fp: &str, pod: &str, description: &str) -> Value {
    let description = format!("Pod shop/{pod} is in waiting state (reason: CrashLoopBackOff) for longer than 15 minutes. {description}");
    alert_of("KubePodCrashLooping", "Pod is crash looping.", fp, pod, &description)
}

fn alert_of(alertname: &str, summary: &str, fp: &str, pod: &str, description: &str) -> Value {
    json!({
        "status": "firing",
        "labels": {"alertname": alertname, "namespace": "shop", "severity": "warning", "pod": pod},
        "annotations": {"summary": summary, "description": description},
        "startsAt": "2026-11-20T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": fp,
    })
}

/// A Deployment alert: its template ends with the first sentence.
fn deployment_alert(fp: &str, cause: &str) -> Value {
    let description = format!("Deployment shop/cart has not matched the expected number of replicas for longer than 15 minutes. {cause}");
    alert_of("KubeDeploymentReplicasMismatch", "Deployment has not matched the expected number of replicas.", fp, "cart-0", &description)
}

async fn drained(url: &str) {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let s: Value = reqwest::get(format!("{url}/v1/status")).await.unwrap().json().await.unwrap();
        if s["outbox"]["pending"] == 0 && s["outbox"]["leased"] == 0 {
            return;
        }
        assert!(Instant::now() < until, "outbox never drained: {s}");
        // Status reads count against the query rate (300/min, burst 60) like the searches
        // after them: on a loaded machine a faster poll spent the burst.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_finds_the_incident_with_its_cause_not_its_pod() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _gw) = common::serve_gateway(common::one_core_gateway(dir.path())).await;
    let past = [
        ("a", "cart-0", "Container exited with code 137 after the cache warm-up.", "The JVM heap was larger than the container memory limit; raised the limit to 2Gi."),
        ("b", "cart-1", "Readiness fails: connection refused to postgres:5432.", "The database password was rotated and the secret not updated (SQLSTATE 28P01); updated the secret."),
        ("c", "checkout-2", "panic: invalid config key 'retries' in /etc/app/config.yaml.", "A bad ConfigMap was rolled out; reverted it and restarted the deployment."),
    ];
    for (fp, pod, description, _) in past {
        post(&url, "/v1/alerts", json!({"version": "4", "status": "firing", "alerts": [alert(fp, pod, description)]})).await;
    }
    // A Deployment's past incident with an unrelated cause: the distractor under the
    // alertname of the cross-alertname query below.
    let other = ("d", "The new image tag does not exist in the registry: ImagePullBackOff on every new pod.", "Fixed the tag in the chart values.");
    post(&url, "/v1/alerts", json!({"version": "4", "status": "firing", "alerts": [deployment_alert(other.0, other.1)]})).await;
    let list: Value = reqwest::get(format!("{url}/v1/incidents")).await.unwrap().json().await.unwrap();
    for (fp, fix) in past.iter().map(|p| (p.0, p.3)).chain([(other.0, other.2)]) {
        let id = list["incidents"].as_array().unwrap().iter().find(|i| i["fingerprint"] == fp).unwrap()["id"].as_i64().unwrap();
        post(&url, &format!("/v1/incidents/{id}/notes"), json!({"text": fix})).await;
    }
    drained(&url).await;

    // The new alert is on cart-1 (incident b's pod) but says what incident a said, in
    // other words: killed for using too much memory.
    let query = alert("new", "cart-1", "The container keeps getting OOMKilled shortly after start.");
    let r = post(&url, "/v1/search", json!({"alert": query, "k": 3})).await;
    let first = &r["results"][0];
    assert_eq!(first["incident"]["fingerprint"], "a", "{r:#}");
    assert_eq!(first["why"]["field"], "cause", "{r:#}");
    assert_eq!(first["why"]["same_alertname"], true, "{r:#}");
    assert!(first["why"]["dense"].as_f64().is_some() && first["why"]["keyword"].as_f64().is_some(), "{r:#}");
    assert!(first["why"]["concepts"].as_array().unwrap().iter().any(|c| c == "oom-kill"), "{r:#}");
    // Nothing volatile was matched on: the pod name is not among the shared terms.
    for hit in r["results"].as_array().unwrap() {
        assert!(!hit["why"]["terms"].as_array().unwrap().iter().any(|t| t.as_str().unwrap().contains("cart")), "{hit:#}");
    }

    // The same cause under another alert: the Deployment's replicas are missing because
    // its pods are killed for their memory. The crash-looping incident with that cause
    // comes before the Deployment's own incident with another, and says it is another
    // alertname's.
    let query = deployment_alert("new-deploy", "Its pods are killed with exit code 137 a minute after they start, for exceeding their memory limit.");
    let r = post(&url, "/v1/search", json!({"alert": query, "k": 4})).await;
    let first = &r["results"][0];
    assert_eq!(first["incident"]["fingerprint"], "a", "{r:#}");
    assert_eq!((&first["why"]["field"], &first["why"]["same_alertname"]), (&json!("cause"), &json!(false)), "{r:#}");
    let own = r["results"].as_array().unwrap().iter().find(|h| h["incident"]["fingerprint"] == "d");
    assert!(own.is_none_or(|h| h["why"]["same_alertname"] == true), "{r:#}");

    // A free-text question is ranked by whole text and says which point matched (here the
    // fix that names the SQLSTATE).
    let r = post(&url, "/v1/search", json!({"query": "the database rejects our password: SQLSTATE 28P01", "k": 1})).await;
    assert_eq!(r["results"][0]["incident"]["fingerprint"], "b", "{r:#}");
    assert_eq!(r["results"][0]["why"]["field"].as_str().map(|f| ["text", "cause", "notes"].contains(&f)), Some(true), "{r:#}");
    assert!(r["results"][0]["why"]["concepts"].as_array().unwrap().iter().any(|c| c == "postgres-auth"), "{r:#}");
    // Relevance, unlike the fused score, says how good the match is: high for that one,
    // low for the best a question about something else finds (a client can say "no good
    // match"), in [0, 1] in every mode.
    // A cause or notes point is a whole text: its snippet starts at its start.
    let first = &r["results"][0];
    if first["why"]["field"] != "text" {
        assert!(!first["snippet"].as_str().unwrap().starts_with('…'), "{r:#}");
    }
    let found = r["results"][0]["relevance"].as_f64().unwrap();
    assert!(found >= 0.4, "{r:#}");
    for mode in ["hybrid", "dense", "keyword"] {
        let off = post(&url, "/v1/search", json!({"query": "the best recipe for sourdough bread with a long cold proof", "k": 4, "mode": mode})).await;
        for hit in off["results"].as_array().unwrap() {
            let rel = hit["relevance"].as_f64().unwrap();
            assert!((0.0..0.3).contains(&rel), "{mode}: {off:#}");
        }
    }
}
