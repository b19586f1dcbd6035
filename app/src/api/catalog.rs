//! The table of every public endpoint: method, path, who may call it, what it takes and
//! returns. The OpenAPI document is generated from it, and the tests check it against the
//! routes the server really serves and the roles it really enforces.

use cortex_core::Role;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (sign-in, setup, probes).
    Public,
    /// A signed-in user or API token with at least this role.
    Role(Role),
    /// A neuron: a request signed with its Ed25519 key, or its neuron token.
    Neuron,
    /// A neuron token, a publishable key (from one of its origins), or a user or API token
    /// with at least this role.
    NeuronOrRole(Role),
    /// A neuron token, a publishable key (from one of its origins), or this hub's own pages
    /// (same origin, no credential). Users are refused (403).
    NeuronOrOwnPages,
}

/// How the input travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// No input.
    None,
    /// Query string (GET).
    Query,
    /// A form body or a JSON object with the same fields (POST).
    FormOrJson,
    /// A JSON body of this component (POST); not a form.
    Json(&'static str),
}

/// A field of the input.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    /// JSON schema type (`string`, `integer`) or a component name (`Role`, `UserId`).
    pub ty: &'static str,
    pub required: bool,
    pub doc: &'static str,
}

/// What a successful call returns.
#[derive(Debug, Clone, Copy)]
pub enum Output {
    /// Plain text.
    Text,
    /// `null`.
    Null,
    /// A JSON scalar type (`boolean`).
    Scalar(&'static str),
    /// A JSON scalar type or `null`.
    OptionalScalar(&'static str),
    /// A component.
    Ref(&'static str),
    /// A component or `null`.
    OptionalRef(&'static str),
    /// An array of a component.
    ListOf(&'static str),
}

/// One endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    pub input: Input,
    pub fields: &'static [Field],
    pub output: Output,
    /// Served by a server function (as opposed to a plain axum route).
    pub server_fn: bool,
}

const fn f(name: &'static str, ty: &'static str, required: bool, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required,
        doc,
    }
}

const fn sf(
    method: &'static str,
    path: &'static str,
    access: Access,
    summary: &'static str,
    input: Input,
    fields: &'static [Field],
    output: Output,
) -> Endpoint {
    Endpoint {
        method,
        path,
        access,
        summary,
        input,
        fields,
        output,
        server_fn: true,
    }
}

use Access::{Public, Role as R};
use Input::{FormOrJson, Json, None as NoInput, Query};

/// Every public endpoint.
/// The rule form's fields (create and update).
const RULE_FORM: &[Field] = &[
    f("id", "string", true, "letters, digits, - and _"),
    f(
        "base_version",
        "string",
        false,
        "update: the version the form was filled from",
    ),
    f("target", "string", true, "page:node, e.g. home:hero"),
    f(
        "kind",
        "string",
        true,
        "hide, props, reorder, theme, insert, replace or variant",
    ),
    f(
        "index",
        "string",
        false,
        "reorder: the new position, 0 first",
    ),
    f(
        "patch",
        "string",
        false,
        "props: a JSON object merged into the node's props",
    ),
    f("theme", "string", false, "theme: its name"),
    f(
        "tokens",
        "string",
        false,
        "theme: design tokens, a JSON object",
    ),
    f(
        "node_type",
        "string",
        false,
        "insert, replace: the new module's type",
    ),
    f(
        "node_id",
        "string",
        false,
        "insert, replace: the new module's id",
    ),
    f(
        "node_props",
        "string",
        false,
        "insert, replace: its props, a JSON object",
    ),
    f(
        "position",
        "string",
        false,
        "insert: before, after (default), firstChild or lastChild",
    ),
    f(
        "trigger",
        "string",
        false,
        "pageLoad (default), scrollDepth, timeOnPage, exitIntent, click, journeyStep or signal",
    ),
    f(
        "trigger_value",
        "string",
        false,
        "the trigger's percent, seconds, node, step or signal name",
    ),
    f(
        "c1_attr",
        "string",
        false,
        "condition rows: the context attribute, e.g. device",
    ),
    f(
        "c2_attr",
        "string",
        false,
        "condition rows: the context attribute, e.g. device",
    ),
    f(
        "c3_attr",
        "string",
        false,
        "condition rows: the context attribute, e.g. device",
    ),
    f(
        "c4_attr",
        "string",
        false,
        "condition rows: the context attribute, e.g. device",
    ),
    f(
        "c1_op",
        "string",
        false,
        "is, isNot, in, notIn, gt, gte, lt, lte, matches, exists or missing",
    ),
    f(
        "c2_op",
        "string",
        false,
        "is, isNot, in, notIn, gt, gte, lt, lte, matches, exists or missing",
    ),
    f(
        "c3_op",
        "string",
        false,
        "is, isNot, in, notIn, gt, gte, lt, lte, matches, exists or missing",
    ),
    f(
        "c4_op",
        "string",
        false,
        "is, isNot, in, notIn, gt, gte, lt, lte, matches, exists or missing",
    ),
    f(
        "c1_value",
        "string",
        false,
        "the value; in and notIn take a comma-separated list",
    ),
    f(
        "c2_value",
        "string",
        false,
        "the value; in and notIn take a comma-separated list",
    ),
    f(
        "c3_value",
        "string",
        false,
        "the value; in and notIn take a comma-separated list",
    ),
    f(
        "c4_value",
        "string",
        false,
        "the value; in and notIn take a comma-separated list",
    ),
    f(
        "conditions",
        "string",
        false,
        "more conditions, a JSON object (GrowthBook syntax); all must hold",
    ),
    f(
        "start",
        "string",
        false,
        "schedule start, UTC, 2026-12-01T09:00",
    ),
    f("end", "string", false, "schedule end (exclusive), UTC"),
    f(
        "time_zone",
        "string",
        false,
        "IANA zone of the windows, default UTC",
    ),
    f(
        "w1_days",
        "string",
        false,
        "weekly windows: mon-fri, sat, sun, weekdays, weekend; empty for every day",
    ),
    f(
        "w2_days",
        "string",
        false,
        "weekly windows: mon-fri, sat, sun, weekdays, weekend; empty for every day",
    ),
    f(
        "w3_days",
        "string",
        false,
        "weekly windows: mon-fri, sat, sun, weekdays, weekend; empty for every day",
    ),
    f(
        "w1_from",
        "string",
        false,
        "window from and to, HH:MM (from after to runs overnight)",
    ),
    f(
        "w1_to",
        "string",
        false,
        "window from and to, HH:MM (from after to runs overnight)",
    ),
    f(
        "w2_from",
        "string",
        false,
        "window from and to, HH:MM (from after to runs overnight)",
    ),
    f(
        "w2_to",
        "string",
        false,
        "window from and to, HH:MM (from after to runs overnight)",
    ),
    f(
        "w3_from",
        "string",
        false,
        "window from and to, HH:MM (from after to runs overnight)",
    ),
    f(
        "w3_to",
        "string",
        false,
        "window from and to, HH:MM (from after to runs overnight)",
    ),
    f(
        "experiment",
        "string",
        false,
        "variant: the experiment key (default the rule id)",
    ),
    f(
        "coverage",
        "string",
        false,
        "variant: percent of visitors in the experiment (default 100)",
    ),
    f(
        "hash_attribute",
        "string",
        false,
        "variant: the attribute hashed (default id)",
    ),
    f(
        "v1_key",
        "string",
        false,
        "variant rows: the variant's key (at least two)",
    ),
    f(
        "v2_key",
        "string",
        false,
        "variant rows: the variant's key (at least two)",
    ),
    f(
        "v3_key",
        "string",
        false,
        "variant rows: the variant's key (at least two)",
    ),
    f(
        "v4_key",
        "string",
        false,
        "variant rows: the variant's key (at least two)",
    ),
    f(
        "v1_weight",
        "string",
        false,
        "percent; all empty for equal weights, otherwise adding up to 100",
    ),
    f(
        "v2_weight",
        "string",
        false,
        "percent; all empty for equal weights, otherwise adding up to 100",
    ),
    f(
        "v3_weight",
        "string",
        false,
        "percent; all empty for equal weights, otherwise adding up to 100",
    ),
    f(
        "v4_weight",
        "string",
        false,
        "percent; all empty for equal weights, otherwise adding up to 100",
    ),
    f(
        "v1_op",
        "string",
        false,
        "what the variant does to the target: none, hide, props, reorder, theme or json",
    ),
    f(
        "v2_op",
        "string",
        false,
        "what the variant does to the target: none, hide, props, reorder, theme or json",
    ),
    f(
        "v3_op",
        "string",
        false,
        "what the variant does to the target: none, hide, props, reorder, theme or json",
    ),
    f(
        "v4_op",
        "string",
        false,
        "what the variant does to the target: none, hide, props, reorder, theme or json",
    ),
    f(
        "v1_value",
        "string",
        false,
        "its value: props JSON, position, theme name or a JSON list of operations",
    ),
    f(
        "v2_value",
        "string",
        false,
        "its value: props JSON, position, theme name or a JSON list of operations",
    ),
    f(
        "v3_value",
        "string",
        false,
        "its value: props JSON, position, theme name or a JSON list of operations",
    ),
    f(
        "v4_value",
        "string",
        false,
        "its value: props JSON, position, theme name or a JSON list of operations",
    ),
    f("priority", "string", false, "whole number, default 0"),
    f(
        "layer",
        "string",
        false,
        "global, page, module (default) or section",
    ),
];

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint { method: "GET", path: "/healthz", access: Public, summary: "Liveness: 200 while the process runs", input: NoInput, fields: &[], output: Output::Text, server_fn: false },
    Endpoint { method: "GET", path: "/readyz", access: Public, summary: "Readiness: 200 when the database is ok, 503 while degraded (unreachable, or replaced and being restored); `spool` says `full` while analytics batches are refused", input: NoInput, fields: &[], output: Output::Ref("Readiness"), server_fn: false },
    Endpoint { method: "GET", path: "/metrics", access: Public, summary: "Prometheus metrics (with `Authorization: Bearer <CORTEX_METRICS_TOKEN>` when that is set)", input: NoInput, fields: &[], output: Output::Text, server_fn: false },
    Endpoint { method: "GET", path: "/api/openapi.json", access: Public, summary: "This OpenAPI 3.1 document", input: NoInput, fields: &[], output: Output::Text, server_fn: false },
    sf("GET", "/api/auth/setup-state", Public, "Whether first-admin setup is still open", NoInput, &[], Output::Scalar("boolean")),
    sf("POST", "/api/auth/setup", Public, "Create the first admin with the one-time setup token and sign in", FormOrJson,
        &[f("token", "string", true, "the setup token printed at first start"), f("username", "string", true, "3-64 of a-z 0-9 . _ -"), f("password", "string", true, "at least 12 characters")],
        Output::Ref("Principal")),
    sf("POST", "/api/auth/login", Public, "Sign in; sets the HttpOnly session cookie. Rate limited per address and username", FormOrJson,
        &[f("username", "string", true, ""), f("password", "string", true, "")], Output::Ref("Principal")),
    sf("POST", "/api/auth/logout", R(Role::Viewer), "End the current session and clear the cookie", FormOrJson, &[], Output::Null),
    sf("GET", "/api/auth/me", Public, "The signed-in principal, or null", NoInput, &[], Output::OptionalRef("Principal")),
    sf("GET", "/api/users", R(Role::Admin), "List users", NoInput, &[], Output::ListOf("UserSummary")),
    sf("POST", "/api/users/create", R(Role::Admin), "Create a user", FormOrJson,
        &[f("username", "string", true, ""), f("password", "string", true, "at least 12 characters"), f("role", "Role", true, "")],
        Output::Ref("UserSummary")),
    sf("POST", "/api/users/set-role", R(Role::Admin), "Change a user's role (the last admin cannot be demoted)", FormOrJson,
        &[f("id", "UserId", true, ""), f("role", "Role", true, "")], Output::Ref("UserSummary")),
    sf("POST", "/api/users/delete", R(Role::Admin), "Delete a user and end their sessions (not the last admin)", FormOrJson,
        &[f("id", "UserId", true, "")], Output::Ref("UserSummary")),
    sf("GET", "/api/tokens", R(Role::Admin), "List API tokens (never their secrets)", NoInput, &[], Output::ListOf("TokenSummary")),
    sf("POST", "/api/tokens/create", R(Role::Admin), "Create an API token; the secret is in this response only", FormOrJson,
        &[f("name", "string", true, "1-64 printable characters"), f("role", "Role", true, ""), f("ttl_days", "string", false, "lifetime in days, 1-3650; empty for none")],
        Output::Ref("CreatedToken")),
    sf("GET", "/api/tokens/take-new-secret", R(Role::Admin), "Read and clear the one-time cookie that carries a new token's secret after a form post without JavaScript (null when there is none)", NoInput, &[], Output::OptionalScalar("string")),
    sf("POST", "/api/tokens/revoke", R(Role::Admin), "Revoke an API token at once", FormOrJson, &[f("id", "TokenId", true, "")], Output::Ref("TokenSummary")),
    sf("GET", "/api/audit", R(Role::Viewer), "The audit log, newest first", Query,
        &[f("actor", "string", false, "substring"), f("action", "string", false, "prefix, e.g. `user.`"), f("target", "string", false, "substring"),
          f("before_seq", "integer", false, "entries before this sequence number"), f("limit", "integer", false, "1-500, default 50")],
        Output::ListOf("AuditEntry")),
    sf("GET", "/api/status", R(Role::Viewer), "Hub status: version, database, uptime, audit-chain integrity", NoInput, &[], Output::Ref("HubStatus")),
    Endpoint { method: "POST", path: "/api/federation/register", access: Access::Neuron, server_fn: false,
        summary: "A neuron joins (or rejoins after a restart). Server neurons sign: x-cortex-neuron, x-cortex-timestamp (ms), x-cortex-nonce and x-cortex-signature (Ed25519 over method, path, SHA-256 of the body, timestamp, nonce); the join policy decides: active with a neuron token, pending, or 403. Browser neurons (browser kinds, no publicKey) send x-cortex-publishable-key from a page on one of the key's origins and join active",
        input: Json("Registration"), fields: &[], output: Output::Ref("Joined") },
    Endpoint { method: "POST", path: "/api/federation/heartbeat", access: Access::Neuron, server_fn: false,
        summary: "A joined neuron reports health, checks, version and load (Authorization: Bearer ctn_…); the answer carries a fresh neuron token",
        input: Json("Heartbeat"), fields: &[], output: Output::Ref("Joined") },
    sf("GET", "/api/federation/health", R(Role::Viewer), "The fleet: counts by status, version and region over every neuron, and one page of the neurons that match status and q, with their health", Query,
        &[f("status", "string", false, "pending, active, degraded, unhealthy, draining or retired"), f("q", "string", false, "substring of id, app, kind, version or a tag (at most 200 characters)"),
          f("offset", "integer", false, "neurons to skip (paging)"), f("limit", "integer", false, "page size, 1-500 (default 60)")],
        Output::Ref("FleetHealth")),
    sf("GET", "/api/federation/kinds", R(Role::Viewer), "Neuron kinds the hub knows, with their capabilities and health checks", NoInput, &[], Output::ListOf("NeuronKind")),
    sf("POST", "/api/federation/neurons/set-status", R(Role::Operator), "Approve a pending neuron or reactivate a retired one (admin), or drain, retire or reactivate one (operator), as the transition table in README_federation.md allows (409 otherwise). A retired neuron's tokens stop working at once, on every hub", FormOrJson,
        &[f("id", "string", true, "neuron id"), f("status", "string", true, "active, draining or retired")], Output::Ref("Neuron")),
    sf("POST", "/api/federation/neurons/bulk", R(Role::Operator), "Approve (admin) or deny (remove) many pending neurons at once; each is checked as on its own, and the answer lists what was done and what failed with why", FormOrJson,
        &[f("action", "string", true, "approve or deny"), f("ids", "string", true, "neuron ids, comma, space or newline separated (at most 1000)")], Output::Ref("BulkOutcome")),
    sf("POST", "/api/federation/neurons/pin", R(Role::Operator), "Pin a neuron (never retired for silence) or unpin it", FormOrJson,
        &[f("id", "string", true, "neuron id"), f("pinned", "boolean", true, "")], Output::Ref("Neuron")),
    sf("POST", "/api/federation/neurons/remove", R(Role::Operator), "Remove a neuron from the registry (deny a pending one); it may register again", FormOrJson,
        &[f("id", "string", true, "neuron id")], Output::Ref("Neuron")),
    Endpoint { method: "GET", path: "/api/federation/hub", access: Public, server_fn: false,
        summary: "Who this hub is: the id every signed neuron request names (hubs on one database share it), so a request signed for one hub is refused by any other",
        input: NoInput, fields: &[], output: Output::Ref("HubIdentity") },
    Endpoint { method: "POST", path: "/api/federation/ws-ticket", access: Access::Neuron, server_fn: false,
        summary: "A one-time ticket for the push channel (Authorization: Bearer ctn_…), valid 30 seconds and for one connection: browsers, which cannot send headers on a WebSocket, connect with `?ticket=` instead of putting their token in a URL",
        input: NoInput, fields: &[], output: Output::Ref("WsTicket") },
    Endpoint { method: "GET", path: "/api/federation/ws", access: Access::Neuron, server_fn: false,
        summary: "The push channel (WebSocket; neuron token in `Authorization: Bearer`, or a one-time `?ticket=` from POST /api/federation/ws-ticket; a browser neuron's page must be on one of its key's origins). JSON messages: hub→neuron welcome, push, token, command {id, command}, eventsAck, error; neuron→hub hello {revisions}, ack {scope, revision}, heartbeat, commandResult {id, ok, message}, events {batchId, events}. After hello the hub sends every bundle the neuron missed. A malformed message closes that socket with a reason",
        input: NoInput, fields: &[], output: Output::Text },
    sf("POST", "/api/federation/push-config", R(Role::Editor), "Push a bundle (a JSON object of one kind) to a scope, optionally staged (a percentage and/or tags first): stored as the scope's next revision and sent at once to connected neurons in its audience; the answer says how many are targeted and reached. Promote a staged push by pushing it again without a rollout", FormOrJson,
        &[f("scope", "string", true, "global, tag:<tag> or neuron:<id>"), f("kind", "string", true, "config, experiments, offers or layoutRules"),
          f("body", "string", true, "the bundle: a JSON object, as a string (at most 256 KiB)"),
          f("rollout_percent", "string", false, "staged rollout: a stable share of the scope's neurons, 1-99 (empty: everyone)"),
          f("rollout_tags", "string", false, "staged rollout: neurons with one of these tags first, comma separated")], Output::Ref("PushResult")),
    sf("GET", "/api/federation/pushes", R(Role::Viewer), "Recent pushes and their propagation: neurons targeted and acked", NoInput, &[], Output::ListOf("Propagation")),
    Endpoint { method: "POST", path: "/api/federation/stream-analytics", access: Access::Neuron, server_fn: false,
        summary: "A joined neuron sends a batch of events (Authorization: Bearer ctn_…; at most 5000 events, 1 MiB). Acknowledged once durably spooled on the hub; a batch id is counted once per neuron (`duplicate: true` when already seen). Over the neuron's rate: 429 with Retry-After; spool full: 503. Also accepted on the channel as an `events` message",
        input: Json("EventBatch"), fields: &[], output: Output::Ref("BatchAck") },
    sf("POST", "/api/federation/hot-reload", R(Role::Operator), "Ask every connected neuron in a scope to re-fetch and re-apply its config without a restart; each reports done or failed with a reason (see /api/federation/commands)", FormOrJson,
        &[f("scope", "string", true, "global, tag:<tag> or neuron:<id>")], Output::Ref("CommandRun")),
    sf("POST", "/api/federation/sync", R(Role::Operator), "Ask every connected neuron in a scope to resend its revisions and take what it missed", FormOrJson,
        &[f("scope", "string", true, "global, tag:<tag> or neuron:<id>")], Output::Ref("CommandRun")),
    sf("GET", "/api/federation/commands", R(Role::Viewer), "Recent commands and each neuron's answer (pending, done, failed)", NoInput, &[], Output::ListOf("CommandRun")),
    sf("GET", "/api/federation/reports", R(Role::Viewer), "Logs and errors neurons reported, newest first (at most 100)", Query,
        &[f("neuron", "string", false, "one neuron id"), f("q", "string", false, "text to find (case-insensitive)"), f("kind", "string", false, "error or log; empty for both")],
        Output::ListOf("NeuronEvent")),
    sf("GET", "/api/federation/alerts", R(Role::Viewer), "Sources whose neuron requests keep being refused (10 or more in 10 minutes: forged or replayed signatures, stale clocks, unknown keys, wrong tokens); the first three per source are audited as neuron.refused", NoInput, &[], Output::ListOf("RefusalAlert")),
    sf("GET", "/api/federation/publishable-keys", R(Role::Viewer), "Publishable keys and the origins each is tied to (not secrets: they sit in web pages)", NoInput, &[], Output::ListOf("PublishableKey")),
    sf("POST", "/api/federation/publishable-keys/create", R(Role::Admin), "Create a publishable key: browser apps on the listed origins join with it (header x-cortex-publishable-key on /api/federation/register)", FormOrJson,
        &[f("name", "string", true, "1-64 printable characters"), f("origins", "string", true, "exact origins such as https://shop.example.com, comma separated (at most 20)")], Output::Ref("PublishableKey")),
    sf("POST", "/api/federation/publishable-keys/revoke", R(Role::Admin), "Revoke a publishable key: no new browser neuron joins with it", FormOrJson,
        &[f("key", "string", true, "the key, pk_…")], Output::Ref("PublishableKey")),
    Endpoint { method: "POST", path: "/api/layout-mutation/apply", access: Access::NeuronOrRole(Role::Viewer), server_fn: false,
        summary: "Resolve a page for a visitor: the base layout with the rules that target this context applied, the exposures to log and (explain: true) the trace. Callers: a neuron token (Authorization: Bearer ctn_…), a publishable key (x-cortex-publishable-key, from one of its origins; CORS allowed) or a user or API token (viewer). A broken rule never fails the call: it is skipped and named in `warnings`. A browser app (publishable key or browser neuron token) also gets `receipt`: its events about these rules count only with it. At most 16 KiB; unknown page: 404",
        input: Json("ApplyRequest"), fields: &[], output: Output::Ref("Applied") },
    Endpoint { method: "POST", path: "/api/layout-mutation/sync", access: Access::NeuronOrRole(Role::Viewer), server_fn: false,
        summary: "Sync a neuron's rule set: send {revision} (the one it holds; 0 for none) and get kind upToDate, diff (the rules and layouts changed since, deletions included) or full (the whole set, also when the revision is unknown to this hub). Callers as for apply. Import another hub's export: {import: <the full set>}, editor with an API token, at most 4 MiB (over CORTEX_MAX_BODY_BYTES if that is smaller); every layout and rule is validated first (errors name the item and field), then stored as new versions and audited",
        input: Json("SyncRequest"), fields: &[], output: Output::Ref("SyncAnswer") },
    Endpoint { method: "POST", path: "/api/layout-mutation/report", access: Access::NeuronOrOwnPages, server_fn: false,
        summary: "Record a batch of layout-mutation events as analytics (durable before the answer; a resent batchId counts once): exposure, pageView, click, conversion, dwell (value in ms), each with mutationId and variant to count for a rule, and unit (the visitor) for rates. Callers: a neuron token, a publishable key (from one of its origins; CORS allowed) or the hub's own storefront pages (same origin, with the page's signed `receipt`: only events about the rules and variants the page showed that visitor; 403 otherwise). At most 1 MiB and 5,000 events; over the rate limit (per neuron, per visitor): 429 with Retry-After",
        input: Json("EventBatch"), fields: &[], output: Output::Ref("BatchAck") },
    Endpoint { method: "GET", path: "/api/layout-mutation/report", access: Access::NeuronOrRole(Role::Viewer), server_fn: false,
        summary: "Impact of layout mutations between from and to (default: the last 30 days; at most 366): per rule and variant the exposures, visitors exposed, clicks, conversions, conversion rate (Wilson 95 % interval), click rate and mean dwell (95 % interval); the same per UTC day; and each experiment variant against its baseline (control, or the rule's first variant) with the difference in conversion rate and its Newcombe 95 % interval. Neurons and viewers (publishable keys: 403)",
        input: Input::Query, fields: &[f("page", "string", false, "page slug"), f("rule", "string", false, "rule id"), f("variant", "string", false, "variant key"),
          f("from", "string", false, "RFC 3339 instant"), f("to", "string", false, "RFC 3339 instant")], output: Output::Ref("LayoutReport") },
    sf("GET", "/api/layout-mutation/rules", R(Role::Viewer), "Layout mutation rules (the newest version of each) with their status: active, inactive, broken (a node it names is not in its page's layout; skipped at runtime) or deleted", Query,
        &[f("page", "string", false, "page slug"), f("layer", "string", false, "global, page, module or section"), f("kind", "string", false, "mutation type"),
          f("status", "string", false, "active, inactive, broken or deleted (deleted rules are listed only when asked for)"),
          f("created_by", "string", false, "substring of who saved the newest version"), f("q", "string", false, "substring of the id")],
        Output::ListOf("RuleRow")),
    sf("GET", "/api/layout-mutation/rule", R(Role::Viewer), "One rule: its newest version and status, every version (newest first) with the diff from the version before it, and its impact over the last 30 days (as GET /api/layout-mutation/report?rule=…); unknown id: 404", Query,
        &[f("id", "string", true, "rule id")], Output::Ref("RuleDetail")),
    sf("POST", "/api/layout-mutation/save", R(Role::Editor), "Create a rule or save a new version of one from its JSON (the rule format of README_layout-mutation.md; createdBy, timestamp and version are stamped). A version other than 0 in it is the version the editor read: if the rule changed since, nothing is saved (409). Validated against the page's base layout, the error names the field; audited as layout-mutation.save; pushed to every neuron", FormOrJson,
        &[f("rule", "string", true, "the rule as JSON, at most 64 KiB")], Output::Ref("RuleVersion")),
    sf("POST", "/api/layout-mutation/rollback", R(Role::Editor), "Restore exactly version `version` of a rule as its newest version; audited as layout-mutation.rollback", FormOrJson,
        &[f("id", "string", true, "rule id"), f("version", "integer", true, "the version to restore")], Output::Ref("RuleVersion")),
    sf("POST", "/api/layout-mutation/set-active", R(Role::Editor), "Switch a rule on or off (a new version; audited as layout-mutation.activate or .deactivate)", FormOrJson,
        &[f("id", "string", true, "rule id"), f("active", "boolean", true, "true or false")], Output::Ref("RuleVersion")),
    sf("POST", "/api/layout-mutation/set-deleted", R(Role::Editor), "Delete a rule (deleted: true) or restore a deleted one (false); a new version, audited as layout-mutation.delete or .restore", FormOrJson,
        &[f("id", "string", true, "rule id"), f("deleted", "boolean", true, "true or false")], Output::Ref("RuleVersion")),
    sf("GET", "/api/layout-mutation/pages", R(Role::Viewer), "Every page with the nodes of its newest base layout (id, module type, depth) and where mutations are switched off", NoInput, &[], Output::ListOf("PageNodes")),
    sf("POST", "/api/layout-mutation/switch", R(Role::Editor), "Switch mutations off (off: true) or on for a module and everything inside it, or for a whole page (node: the page's root). A new version of the page's base layout, audited as layout.save and pushed; rules that would change a switched-off node are skipped with the reason in the trace", FormOrJson,
        &[f("page", "string", true, "page slug"), f("node", "string", true, "node id"), f("off", "boolean", true, "true or false")], Output::Ref("PageNodes")),
    sf("POST", "/api/layout-mutation/create", R(Role::Editor), "Create a rule from the rule form: a target picked from a page's tree, the type and its fields, condition rows and raw conditions, trigger, schedule with weekly windows, and for a variant rule the experiment and its variants. The id must be new (409 otherwise); validated like every save (errors name the form field); audited as layout-mutation.save", FormOrJson, RULE_FORM, Output::Ref("RuleVersion")),
    sf("POST", "/api/layout-mutation/update", R(Role::Editor), "Save a new version of a rule from the rule form (the same fields as create, plus base_version). If the rule changed since base_version, nothing is saved (409). The rule keeps its on/off state; audited as layout-mutation.save", FormOrJson, RULE_FORM, Output::Ref("RuleVersion")),
    sf("GET", "/api/layout-mutation/preview", R(Role::Viewer), "A page as a described visitor would see it: its base layout, the resolved layout with the explain trace (what each rule did and why), and the context used. Counts no exposure", Query,
        &[f("page", "string", false, "page slug (default home)"), f("user", "string", false, "an identified visitor"), f("device", "string", false, "mobile, tablet or desktop"),
          f("persona", "string", false, "persona"), f("stage", "string", false, "journey stage"), f("locale", "string", false, "e.g. de-DE"), f("hike", "string", false, "the quiz answer"),
          f("referrer", "string", false, "referring URL"), f("utm", "string", false, "campaign tags as in a URL: utm_medium=email&utm_campaign=bf"), f("at", "string", false, "UTC time, 2026-11-29T22:30 (default now)"),
          f("did", "string", false, "what the visitor then did: exitIntent, scrolled, stayed (10 minutes) or all; rules waiting for it apply")],
        Output::Ref("Preview")),
    sf("GET", "/api/shop/page", Public, "The demo storefront page `slug` resolved for the calling visitor (visitor cookie, user agent, referrer, language and the page's query string: user, persona, stage, device, hike, utm_*); with `deferred` (`page`: the base layout, the rules that apply and every rule of the page waiting for an event; `awaited`: those events; `context`: the visitor's) when a rule waits for a browser event. Counts a page view and the exposures", Query,
        &[f("slug", "string", true, "home, sale, …"), f("query", "string", true, "the page's query string (may be empty)")], Output::Ref("ShopView")),
    sf("GET", "/api/federation/join-policy", R(Role::Viewer), "The join policy: open, allowlist (keys, or tags an admin bound to keys) or approval", NoInput, &[], Output::Ref("JoinPolicy")),
    sf("POST", "/api/federation/join-policy", R(Role::Admin), "Set the join policy", FormOrJson,
        &[f("mode", "string", true, "open, allowlist or approval"), f("keys", "string", false, "allowlist: public keys, comma or newline separated"),
          f("tags", "string", false, "allowlist: tags, comma separated; they admit keys an admin bound them to in key_tags (never tags a neuron declares)"),
          f("key_tags", "string", false, "tags an admin gives to keys: one key per line, then its tags (`KEY eu, canary`)")], Output::Ref("JoinPolicy")),
];

/// The endpoint at `method` + `path`.
pub fn find(method: &str, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS
        .iter()
        .find(|e| e.method == method && e.path == path)
}

/// Paths of server functions whose input is a form (they also accept JSON).
pub fn is_form_endpoint(path: &str) -> bool {
    ENDPOINTS
        .iter()
        .any(|e| e.path == path && e.input == Input::FormOrJson)
}
