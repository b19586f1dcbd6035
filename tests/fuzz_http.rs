//! Every documented endpoint, fuzzed over real HTTP with proptest (bounded: a few dozen
//! inputs each per run): form bodies and JSON with the endpoint's own field names and odd
//! values, random bytes, random query strings, sent with credentials that pass the role
//! check so the input reaches the parsers behind it. Whatever comes in, the hub answers
//! below 500, and every refusal is the documented `{"error": {"code", "message"}}` with a
//! message.

mod common;

use common::{start, Hub};
use cortex_app::api::catalog::{Access, Endpoint, Input, ENDPOINTS};
use cortex_core::Role;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

/// What is sent to one endpoint.
#[derive(Debug, Clone)]
enum Body {
    /// A JSON object with the endpoint's field names (and maybe others).
    Json(Vec<(String, Value)>),
    /// A form body of the same.
    Form(Vec<(String, String)>),
    /// Bytes of any kind, as JSON.
    Bytes(Vec<u8>),
}

fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(Value::from),
        Just(Value::from("global")),
        Just(Value::from("approve")),
        Just(Value::from("{\"a\":")),
        Just(Value::from("javascript:alert(1)")),
        Just(Value::from("x".repeat(70_000))),
        prop::collection::vec(any::<u8>().prop_map(Value::from), 0..3).prop_map(Value::from),
        Just(json!({"nested": {"deeper": [1, null]}})),
    ]
}

fn odd_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "[0-9a-z%=&.:/-]{0,20}",
        Just("🦀\u{0}".to_string())
    ]
}

fn body_for(e: &'static Endpoint) -> BoxedStrategy<Body> {
    let names: Vec<String> = e
        .fields
        .iter()
        .map(|f| f.name.to_string())
        .chain(["extra".to_string()])
        .collect();
    let name = prop::sample::select(names);
    let json = prop::collection::vec((name.clone(), odd_value()), 0..6).prop_map(Body::Json);
    let form = prop::collection::vec((name, odd_text()), 0..6).prop_map(Body::Form);
    let bytes = prop::collection::vec(any::<u8>(), 0..200).prop_map(Body::Bytes);
    prop_oneof![3 => json, 2 => form, 1 => bytes].boxed()
}

async fn send(hub: &Hub, e: &Endpoint, credential: &str, body: &Body) -> Result<(), String> {
    let client = common::plain();
    let mut req = client
        .request(e.method.parse().unwrap(), hub.url(e.path))
        .bearer_auth(credential);
    req = match (e.method, body) {
        // (A URL holds at most 64 KiB: long values are cut to what a URL can carry.)
        ("GET", Body::Json(pairs)) => req.query(
            &pairs
                .iter()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    (k.clone(), v.chars().take(4000).collect::<String>())
                })
                .collect::<Vec<_>>(),
        ),
        ("GET", Body::Form(pairs)) => req.query(pairs),
        ("GET", Body::Bytes(_)) => req,
        (_, Body::Json(pairs)) => req.json(&Value::Object(pairs.iter().cloned().collect())),
        (_, Body::Form(pairs)) => req.form(pairs),
        (_, Body::Bytes(b)) => req
            .header("content-type", "application/json")
            .body(b.clone()),
    };
    let res = req.send().await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    let mut shown = format!("{body:?}");
    if shown.len() > 300 {
        let mut cut = 300;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        shown.truncate(cut);
        shown.push('…');
    }
    let what = format!("{} {} with {shown}", e.method, e.path);
    let full = text;
    let text: String = full.chars().take(400).collect();
    if status >= 500 {
        return Err(format!("{what}: {status} {text}"));
    }
    if status >= 400 {
        let v: Value = serde_json::from_str(&full)
            .map_err(|_| format!("{what}: {status} not JSON: {text}"))?;
        let message = v["error"]["message"].as_str().unwrap_or_default();
        if message.trim().is_empty() || v["error"]["code"].as_str().is_none() {
            return Err(format!(
                "{what}: {status} without a code and message: {text}"
            ));
        }
    }
    Ok(())
}

#[test]
fn every_endpoint_answers_any_input_below_500_with_a_message() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (hub, admin_token, neuron_token) = rt.block_on(async {
        let hub = start().await;
        let admin = hub.setup_admin().await;
        let token = hub.token(&admin, "fuzz", Role::Admin).await;
        common::open_policy(&hub, &admin).await;
        let key = cortex_sdk::NeuronKey::generate();
        let neuron = cortex_sdk::HubClient::new(&hub.app.url(), None)
            .unwrap()
            .register(&common::registration("fuzz-1", &key), &key)
            .await
            .unwrap()
            .token
            .unwrap();
        (hub, token, neuron)
    });
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(24);
    for e in ENDPOINTS {
        // The WebSocket wants an upgrade; its refusals are covered elsewhere.
        if e.path == cortex_server::federation::channel::WS_PATH {
            continue;
        }
        let credential = match e.access {
            Access::Neuron | Access::NeuronOrOwnPages => neuron_token.clone(),
            _ => admin_token.clone(),
        };
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let input = if e.input == Input::None && e.method == "GET" {
            Just(Body::Json(Vec::new())).boxed()
        } else {
            body_for(e)
        };
        let outcome = runner.run(&input, |body| {
            rt.block_on(send(&hub, e, &credential, &body))
                .map_err(TestCaseError::fail)
        });
        if let Err(failure) = outcome {
            panic!("{failure}");
        }
    }
}
