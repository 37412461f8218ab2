//! Three gateway replicas sharing one Redis (a single node, and a three-node
//! Redis Cluster), as in a Deployment with `replicas: 3`: a session begun on
//! one replica continues on the others, an SSE stream broken on one resumes
//! on another without losing events, a rate limit holds for all replicas
//! together, federated lists come from the discovery cache, and a Redis
//! outage stops only session-based traffic, which recovers by itself.

mod ha;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ha::{Raw, progress};
use hangar_testenv::redis::{RedisCluster, RedisServer};
use reqwest::StatusCode;
use serde_json::json;
use support::{HEAD, TestGateway, eventually};

const LIMIT: usize = 5;

fn config(redis: &str, mode: &str, prefix: &str, upstream: &str, idle: &str) -> String {
    format!(
        r#"{HEAD}gateway: {{sessionIdleTimeout: {idle}}}
redis: {{url: "{redis}", mode: {mode}, keyPrefix: "{prefix}"}}
rateLimit:
  tools: {{up_admin_reset: {{requests: {LIMIT}, period: 1h}}}}
servers:
  - {{name: up, transport: streamable-http, url: "{upstream}"}}
"#
    )
}

async fn replicas(yaml: &str, n: usize) -> Vec<TestGateway> {
    let mut replicas = Vec::new();
    for _ in 0..n {
        let replica = TestGateway::start(yaml).await;
        wait_for_redis(&replica).await;
        replicas.push(replica);
    }
    replicas
}

async fn wait_for_redis(replica: &TestGateway) {
    let link = replica
        .gateway
        .shared()
        .link
        .clone()
        .expect("a redis section");
    eventually(
        "the replica to reach Redis",
        Duration::from_secs(30),
        || link.is_up(),
    )
    .await;
}

fn tool_names(reply: &ha::Reply) -> Vec<String> {
    reply.result()["tools"]
        .as_array()
        .expect("a tools list")
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// Everything the issue asks of shared state, against one Redis topology.
/// `stop` and `restart` take Redis away and bring it back.
async fn replicas_share_state(redis_url: &str, mode: &str, stop: impl Fn(), restart: impl Fn()) {
    let (upstream, state) = ha::upstream::start().await;
    let yaml = config(redis_url, mode, "ha:", &upstream.url("/mcp"), "5m");
    let raw = Raw::new();

    // Discovery cache: the first replica lists the upstream; the others are
    // served from Redis without asking it.
    let first = replicas(&yaml, 1).await;
    assert_eq!(state.lists(), 1, "the first replica lists the upstream");
    let mut all = first;
    all.extend(replicas(&yaml, 2).await);
    assert_eq!(
        state.lists(),
        1,
        "replicas 2 and 3 take the lists from the discovery cache"
    );
    let urls: Vec<String> = all.iter().map(|r| r.mcp()).collect();
    for url in &urls {
        let reply = raw.stateless(url, "tools/list", json!({})).await;
        assert!(
            tool_names(&reply).contains(&"up_tick".to_string()),
            "{}",
            reply.text
        );
    }

    // A session begun on replica 1 continues on replicas 2 and 3.
    let session = raw.initialize(&urls[0]).await;
    let listed = raw
        .call(&urls[1], &session, 1, "tools/list", json!({}))
        .await;
    assert!(tool_names(&listed).contains(&"up_echo".to_string()));
    for (i, url) in urls.iter().enumerate().skip(1) {
        let reply = raw
            .call(
                url,
                &session,
                2 + i as u64,
                "tools/call",
                json!({"name": "up_echo", "arguments": {"text": format!("via replica {}", i + 1)}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.tool_text(), format!("via replica {}", i + 1));
    }

    // An SSE stream broken on replica 1 resumes on replica 2 with no lost events.
    let ticks = 6;
    let params = json!({
        "name": "up_tick",
        "arguments": {"count": ticks, "ms": 150},
        "_meta": {"progressToken": "ticks"},
    });
    let before = raw
        .call_and_break(&urls[0], &session, 10, "tools/call", params, 3)
        .await;
    let last_id = before
        .iter()
        .rev()
        .find_map(|e| e.id.clone())
        .expect("events carry ids");
    let seen_before = progress(&before);
    assert!(
        !seen_before.is_empty() && seen_before.len() < ticks,
        "the break happens mid-call: {before:?}"
    );
    let resumed = raw.resume(&urls[1], &session, &last_id).await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.text);
    let mut all_progress = seen_before.clone();
    all_progress.extend(progress(&resumed.events));
    let expected: Vec<f64> = (1..=ticks).map(|i| i as f64).collect();
    assert_eq!(
        all_progress, expected,
        "every progress event exactly once, in order (before the break: {seen_before:?})"
    );
    assert_eq!(resumed.message["id"], 10);
    assert_eq!(resumed.tool_text(), format!("ticked {ticks}"));

    // A rate limit of LIMIT per hour admits exactly LIMIT of many concurrent
    // calls spread over the replicas, stateless and session-based alike (no
    // token refills within the test).
    let replies = futures::future::join_all((0..3 * LIMIT).map(|i| {
        let (raw, session, url) = (&raw, &session, &urls[i % urls.len()]);
        async move {
            let params = json!({"name": "up_admin_reset", "arguments": {}});
            let reply = if i % 2 == 0 {
                raw.stateless(url, "tools/call", params).await
            } else {
                raw.call(url, session, 100 + i as u64, "tools/call", params)
                    .await
            };
            (i, reply)
        }
    }))
    .await;
    let mut admitted = 0;
    for (i, reply) in replies {
        if reply.message.get("result").is_some() {
            admitted += 1;
            continue;
        }
        let error = reply.error();
        assert_eq!(error["code"], -32029, "{}", reply.text);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("up_admin_reset"),
            "{}",
            reply.text
        );
        let retry_after: u64 = reply
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!((1..=3600).contains(&retry_after), "{retry_after}");
        let expected_status = if i % 2 == 0 {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            // Inside a session the refusal is the JSON-RPC answer.
            StatusCode::OK
        };
        assert_eq!(reply.status, expected_status, "{}", reply.text);
    }
    assert_eq!(admitted, LIMIT, "exactly {LIMIT} calls admitted");

    // list_changed drops the cached lists: every replica re-lists, and a
    // new replica then reads the new lists from the cache.
    let grown = raw
        .stateless(
            &urls[2],
            "tools/call",
            json!({"name": "up_grow", "arguments": {}}),
        )
        .await;
    assert_eq!(grown.tool_text(), "added grown_1");
    for replica in &all {
        let gateway = replica.gateway.clone();
        eventually(
            "every replica to see the new tool",
            Duration::from_secs(30),
            move || {
                gateway
                    .catalog()
                    .tools()
                    .iter()
                    .any(|t| t.name == "up_grown_1")
            },
        )
        .await;
    }
    let lists_after_change = state.lists();
    assert!(lists_after_change > 1, "the change was listed anew");
    let fourth = replicas(&yaml, 1).await;
    assert_eq!(
        state.lists(),
        lists_after_change,
        "a new replica reads the changed lists from the cache"
    );
    let gateway = fourth[0].gateway.clone();
    eventually(
        "the new replica to serve the changed lists",
        Duration::from_secs(30),
        move || {
            gateway
                .catalog()
                .tools()
                .iter()
                .any(|t| t.name == "up_grown_1")
        },
    )
    .await;
    assert_eq!(state.lists(), lists_after_change);

    // Redis goes away: stateless calls never fail, session calls fail clearly,
    // and all of it recovers by itself when Redis is back.
    let stop_flag = Arc::new(AtomicBool::new(false));
    let (calls, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let background = {
        let (urls, raw) = (urls.clone(), raw.clone());
        let (stop_flag, calls, failures) = (stop_flag.clone(), calls.clone(), failures.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop_flag.load(Ordering::SeqCst) {
                let reply = raw
                    .stateless(
                        &urls[i % urls.len()],
                        "tools/call",
                        json!({"name": "up_echo", "arguments": {"text": "still here"}}),
                    )
                    .await;
                calls.fetch_add(1, Ordering::SeqCst);
                if reply.status != StatusCode::OK
                    || reply.message.get("result").is_none()
                    || reply.tool_text() != "still here"
                {
                    eprintln!(
                        "stateless call failed: HTTP {} {}",
                        reply.status, reply.text
                    );
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                i += 1;
            }
        })
    };
    stop();
    let stopped = Instant::now();
    let refused = raw
        .call(
            &urls[1],
            &session,
            500,
            "tools/call",
            json!({"name": "up_echo", "arguments": {"text": "x"}}),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    let message = refused.error()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("session store is unreachable")
            && message.contains("stateless 2026-07-28 requests keep working"),
        "{message}"
    );
    assert_eq!(refused.header("retry-after"), Some("1"));
    let new_session = raw.try_initialize(&urls[2]).await;
    assert_eq!(
        new_session.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        new_session.text
    );
    let ready = reqwest::get(all[0].served.url("/readyz")).await.unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::OK,
        "stateless traffic keeps the replica ready"
    );
    let detail: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(detail["sharedState"]["connected"], false, "{detail}");
    assert!(detail["sharedState"]["error"].is_string(), "{detail}");
    // Let stateless traffic run against the outage for a while.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let outage = stopped.elapsed();

    restart();
    let restarted = Instant::now();
    // Each replica finds Redis again on its own; the same session continues on every one.
    let mut attempt = 600;
    for url in &urls {
        loop {
            let reply = raw
                .call(
                    url,
                    &session,
                    attempt,
                    "tools/call",
                    json!({"name": "up_echo", "arguments": {"text": "back"}}),
                )
                .await;
            attempt += 1;
            if reply.status == StatusCode::OK {
                assert_eq!(reply.tool_text(), "back", "the same session continues");
                break;
            }
            assert_eq!(
                reply.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{}",
                reply.text
            );
            assert!(
                restarted.elapsed() < Duration::from_secs(60),
                "no recovery: {}",
                reply.text
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let recovery = restarted.elapsed();
    stop_flag.store(true, Ordering::SeqCst);
    background.await.unwrap();
    println!(
        "[{mode}] Redis down {:.1} s: {} stateless calls, {} failed; session calls recovered on all replicas {} ms after Redis answered again",
        outage.as_secs_f64(),
        calls.load(Ordering::SeqCst),
        failures.load(Ordering::SeqCst),
        recovery.as_millis()
    );
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "stateless calls never fail"
    );
    assert!(calls.load(Ordering::SeqCst) > 0);
    let fresh = raw.initialize(&urls[2]).await;
    let reply = raw
        .call(
            &urls[0],
            &fresh,
            1,
            "tools/call",
            json!({"name": "up_echo", "arguments": {"text": "new"}}),
        )
        .await;
    assert_eq!(reply.tool_text(), "new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_share_state_in_one_redis() {
    let redis = RedisServer::start();
    replicas_share_state(
        &redis.url(),
        "Standalone",
        || redis.stop(),
        || redis.restart(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_share_state_in_a_redis_cluster() {
    let cluster = RedisCluster::start();
    replicas_share_state(
        &cluster.url(),
        "Cluster",
        || cluster.stop(),
        || cluster.restart(),
    )
    .await;
}

/// Sessions expire after the idle timeout, counted from the last request on
/// any replica; a DELETE on one replica ends the session on all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_when_idle_and_end_everywhere() {
    let redis = RedisServer::start();
    let (upstream, _) = ha::upstream::start().await;
    let yaml = config(
        &redis.url(),
        "Standalone",
        "idle:",
        &upstream.url("/mcp"),
        "2s",
    );
    let all = replicas(&yaml, 2).await;
    let (a, b) = (all[0].mcp(), all[1].mcp());
    let raw = Raw::new();

    let session = raw.initialize(&a).await;
    // Requests every half second on alternating replicas keep it alive well past 2 s.
    for i in 0..6u64 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let url = if i % 2 == 0 { &b } else { &a };
        let reply = raw.call(url, &session, i, "tools/list", json!({})).await;
        assert_eq!(reply.status, StatusCode::OK, "request {i}: {}", reply.text);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let expired = raw.call(&a, &session, 10, "tools/list", json!({})).await;
    assert_eq!(expired.status, StatusCode::NOT_FOUND, "{}", expired.text);
    assert!(
        expired.text.contains("expired or was closed"),
        "{}",
        expired.text
    );

    let session = raw.initialize(&a).await;
    assert_eq!(raw.delete(&b, &session).await, StatusCode::OK);
    let ended = raw.call(&a, &session, 1, "tools/list", json!({})).await;
    assert_eq!(ended.status, StatusCode::NOT_FOUND, "{}", ended.text);
}

/// A Redis that accepts connections and never answers (on a cluster: its
/// Service before its pod runs) leaves `/readyz` answering, ready, within the
/// 1 s the kubelet gives a readiness probe by default: only session-based
/// requests depend on Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_redis_does_not_hold_up_readiness() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let (upstream, _) = ha::upstream::start().await;
    let yaml = config(
        &format!("redis://127.0.0.1:{port}"),
        "Standalone",
        "silent:",
        &upstream.url("/mcp"),
        "5m",
    );
    let replica = TestGateway::start(&yaml).await;
    let kubelet = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    for _ in 0..3 {
        let ready = kubelet
            .get(replica.served.url("/readyz"))
            .send()
            .await
            .expect("/readyz answers within the kubelet's probe timeout");
        assert_eq!(ready.status(), StatusCode::OK);
        let detail: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(detail["sharedState"]["connected"], false, "{detail}");
    }
    held.abort();
}
