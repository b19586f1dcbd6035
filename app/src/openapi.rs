//! The OpenAPI 3.1 document, generated from the endpoint catalog and the wire types' schemas.

use crate::api::catalog::{Access, Endpoint, Input, Output, ENDPOINTS};
use serde_json::{json, Map, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

fn add<T: ToSchema>(out: &mut Vec<(String, RefOr<Schema>)>) {
    out.push((T::name().into_owned(), T::schema()));
    T::schemas(out);
}

fn components() -> Value {
    use cortex_core::{audit::*, user::*, *};
    let mut s = Vec::new();
    add::<Role>(&mut s);
    add::<ApiErrorBody>(&mut s);
    add::<UserSummary>(&mut s);
    add::<TokenSummary>(&mut s);
    add::<CreatedToken>(&mut s);
    add::<Principal>(&mut s);
    add::<AuditEntry>(&mut s);
    add::<UserId>(&mut s);
    add::<TokenId>(&mut s);
    add::<crate::api::status::HubStatus>(&mut s);
    add::<overview::Overview>(&mut s);
    add::<experiments::ExperimentSummary>(&mut s);
    add::<suggest::Suggestion>(&mut s);
    add::<suggest::SuggestionState>(&mut s);
    add::<cortex_core::alerts::AlertEntry>(&mut s);
    add::<federation::PushSpread>(&mut s);
    add::<cortex_server::probes::Readiness>(&mut s);
    add::<federation::Registration>(&mut s);
    add::<federation::Heartbeat>(&mut s);
    add::<federation::Joined>(&mut s);
    add::<federation::FleetHealth>(&mut s);
    add::<federation::Neuron>(&mut s);
    add::<federation::NeuronKind>(&mut s);
    add::<federation::Release>(&mut s);
    add::<federation::ReleaseBoard>(&mut s);
    add::<federation::Expectation>(&mut s);
    add::<federation::Rollout>(&mut s);
    add::<federation::RolloutView>(&mut s);
    add::<federation::guard::RollbackRules>(&mut s);
    add::<federation::rollback::ScopeHistory>(&mut s);
    add::<federation::rollback::RollbackPreview>(&mut s);
    add::<federation::review::ScopePolicies>(&mut s);
    add::<federation::overrides::ConfigOverride>(&mut s);
    add::<federation::review::ChangeRequest>(&mut s);
    add::<federation::review::ChangeRequestView>(&mut s);
    add::<federation::JoinPolicy>(&mut s);
    add::<federation::PushResult>(&mut s);
    add::<federation::Propagation>(&mut s);
    add::<federation::CommandRun>(&mut s);
    add::<federation::RefusalAlert>(&mut s);
    add::<federation::PublishableKey>(&mut s);
    add::<federation::BulkOutcome>(&mut s);
    add::<federation::HubIdentity>(&mut s);
    add::<federation::WsTicket>(&mut s);
    add::<analytics::EventBatch>(&mut s);
    add::<analytics::BatchAck>(&mut s);
    add::<analytics::NeuronEvent>(&mut s);
    add::<rules::ApplyRequest>(&mut s);
    add::<rules::Applied>(&mut s);
    add::<rules::SyncRequest>(&mut s);
    add::<rules::SyncAnswer>(&mut s);
    add::<rules::RuleRow>(&mut s);
    add::<report::LayoutReport>(&mut s);
    add::<rules::RuleVersion>(&mut s);
    add::<crate::api::layouts::RuleDetail>(&mut s);
    add::<crate::api::layouts::PageNodes>(&mut s);
    add::<layout::migrate::PageCheck>(&mut s);
    add::<layout::migrate::LayoutBackup>(&mut s);
    add::<rules::RuleSet>(&mut s);
    add::<crate::api::shop::ShopView>(&mut s);
    add::<crate::api::layouts::Preview>(&mut s);
    let mut map = Map::new();
    for (name, schema) in s {
        map.insert(name, serde_json::to_value(schema).unwrap_or(Value::Null));
    }
    Value::Object(map)
}

fn ty(t: &str) -> Value {
    match t {
        "string" | "integer" | "boolean" => json!({"type": t}),
        other => json!({"$ref": format!("#/components/schemas/{other}")}),
    }
}

fn output(o: Output) -> Value {
    match o {
        Output::Text => json!({"text/plain": {"schema": {"type": "string"}}}),
        Output::Null => json!({"application/json": {"schema": {"type": "null"}}}),
        Output::Scalar(t) => json!({"application/json": {"schema": ty(t)}}),
        Output::OptionalScalar(t) => {
            json!({"application/json": {"schema": {"oneOf": [ty(t), {"type": "null"}]}}})
        }
        Output::Ref(r) => json!({"application/json": {"schema": ty(r)}}),
        Output::OptionalRef(r) => {
            json!({"application/json": {"schema": {"oneOf": [ty(r), {"type": "null"}]}}})
        }
        Output::ListOf(r) => {
            json!({"application/json": {"schema": {"type": "array", "items": ty(r)}}})
        }
    }
}

fn error(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": ty("ApiErrorBody")}}})
}

fn operation(e: &Endpoint) -> Value {
    let mut op = Map::new();
    op.insert("summary".into(), json!(e.summary));
    op.insert(
        "operationId".into(),
        json!(format!("{} {}", e.method.to_lowercase(), e.path)),
    );
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({"description": "OK", "content": output(e.output)}),
    );
    match e.access {
        Access::Public => {
            op.insert("security".into(), json!([]));
        }
        Access::Role(role) => {
            op.insert("x-cortex-role".into(), json!(role.as_str()));
            op.insert("security".into(), json!([{"bearer": []}, {"session": []}]));
            responses.insert(
                "401".into(),
                error("no credentials, or expired, revoked or tampered ones"),
            );
            responses.insert(
                "403".into(),
                error(&format!("needs the `{role}` role, or a cross-site write")),
            );
        }
        Access::NeuronOrRole(role) => {
            op.insert(
                "x-cortex-role".into(),
                json!(format!("neuron, publishable key or {}", role.as_str())),
            );
            op.insert(
                "security".into(),
                json!([{"neuronToken": []}, {"publishableKey": []}, {"bearer": []}, {"session": []}]),
            );
            responses.insert(
                "400".into(),
                error("malformed or invalid input; the message names the field"),
            );
            responses.insert(
                "401".into(),
                error("no credentials, a bad neuron token, or a publishable key used from an origin it does not list"),
            );
            responses.insert(
                "403".into(),
                error(&format!("a user without the `{role}` role")),
            );
            responses.insert("413".into(), error("body too large"));
        }
        Access::NeuronOrOwnPages => {
            op.insert(
                "x-cortex-role".into(),
                json!("neuron, publishable key or this hub's own pages"),
            );
            op.insert(
                "security".into(),
                json!([{"neuronToken": []}, {"publishableKey": []}, {}]),
            );
            responses.insert(
                "400".into(),
                error("malformed or invalid input; the message names the field"),
            );
            responses.insert(
                "401".into(),
                error("no credentials from another origin, a bad neuron token, or a publishable key used from an origin it does not list"),
            );
            responses.insert(
                "403".into(),
                error("a user's credentials: users read reports, they do not send events"),
            );
            responses.insert("413".into(), error("body too large"));
            responses.insert(
                "429".into(),
                error("over the source's event rate; retry after Retry-After"),
            );
            responses.insert("503".into(), error("the spool is full"));
        }
        Access::Neuron => {
            op.insert(
                "security".into(),
                json!([{"neuronSignature": []}, {"neuronToken": []}]),
            );
            responses.insert(
                "400".into(),
                error("malformed or invalid input; the message names the field"),
            );
            responses.insert(
                "401".into(),
                error("missing, stale, replayed or wrong signature, or a bad neuron token"),
            );
            responses.insert(
                "403".into(),
                error("refused by the join policy, or the neuron is pending, retired or removed"),
            );
            responses.insert("413".into(), error("body too large"));
            responses.insert("503".into(), error("database unreachable"));
        }
    }
    if e.server_fn {
        responses.insert("400".into(), error("malformed or invalid input"));
        responses.insert("404".into(), error("the thing named does not exist"));
        responses.insert(
            "409".into(),
            error("conflicts with the current state (taken, changed since read, not allowed from this state)"),
        );
        responses.insert(
            "413".into(),
            error("body larger than CORTEX_MAX_BODY_BYTES"),
        );
        responses.insert("503".into(), error("database unreachable (writes refused)"));
    }
    if !matches!(e.access, Access::Public) || e.server_fn {
        // Pages, neurons and rules named in the input may be gone; limits apply to many.
        responses
            .entry("404")
            .or_insert_with(|| error("the page, neuron or thing named does not exist"));
        responses.entry("429").or_insert_with(|| {
            error("over a rate limit (events per neuron or visitor, registrations per address, sign-ins); see Retry-After")
        });
    }
    if e.access == Access::Public && e.method == "POST" {
        responses.insert(
            "401".into(),
            error("wrong username or password, or a wrong or used setup token"),
        );
    }
    if e.access == Access::Neuron {
        responses.insert(
            "409".into(),
            error("the neuron id is registered with another key"),
        );
        responses.insert(
            "503".into(),
            error("database unreachable, the spool is full, or too many neurons wait for approval"),
        );
    }
    if e.path == "/api/auth/login" {
        responses.insert(
            "429".into(),
            error("too many failed sign-ins; see Retry-After"),
        );
    }
    let props: Map<String, Value> = e
        .fields
        .iter()
        .map(|f| {
            (f.name.to_string(), {
                let mut t = ty(f.ty);
                if !f.doc.is_empty() {
                    t["description"] = json!(f.doc);
                }
                t
            })
        })
        .collect();
    let required: Vec<&str> = e
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    match e.input {
        Input::None => {}
        Input::Query => {
            let params: Vec<Value> = e
                .fields
                .iter()
                .map(|f| json!({"name": f.name, "in": "query", "required": f.required, "description": f.doc, "schema": ty(f.ty)}))
                .collect();
            op.insert("parameters".into(), json!(params));
        }
        Input::Json(component) => {
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": ty(component)}}}),
            );
        }
        Input::FormOrJson => {
            let schema = json!({"type": "object", "properties": props, "required": required});
            op.insert(
                "requestBody".into(),
                json!({"required": !e.fields.is_empty(), "content": {
                    "application/json": {"schema": schema},
                    "application/x-www-form-urlencoded": {"schema": schema},
                }}),
            );
        }
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for e in ENDPOINTS {
        let item = paths.entry(e.path.to_string()).or_insert_with(|| json!({}));
        item[e.method.to_lowercase()] = operation(e);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Cortex",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Neuron federation hub and realtime layout mutation engine. Errors are {\"error\":{\"code\",\"message\"}}.",
        },
        "paths": paths,
        "components": {
            "schemas": components(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API token (`ctx_…`) from Users & tokens or `cortex token create`"},
                "session": {"type": "apiKey", "in": "cookie", "name": "cortex_session", "description": "Set by /api/auth/login; writes also need a same-origin Origin or Referer"},
                "neuronSignature": {"type": "apiKey", "in": "header", "name": "x-cortex-signature", "description": "Ed25519 signature over `METHOD\\npath\\nsha256(body) hex\\ntimestamp ms\\nnonce`, with x-cortex-neuron, x-cortex-timestamp and x-cortex-nonce"},
                "neuronToken": {"type": "http", "scheme": "bearer", "description": "A neuron token (`ctn_…`) from registration or the last heartbeat"},
                "publishableKey": {"type": "apiKey", "in": "header", "name": "x-cortex-publishable-key", "description": "A publishable key (`pk_…`), sent by a page on one of the key's origins (checked against the Origin header)"},
            },
        },
    })
}
