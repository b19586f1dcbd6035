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

/// A field of an endpoint's input.
const fn field(name: &'static str, ty: &'static str, required: bool, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required,
        doc,
    }
}

/// An endpoint served by a server function.
const fn endpoint(
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

use Access::{Public, Role as Needs};
use Input::{FormOrJson, Json, None as NoInput, Query};

/// Every public endpoint.
/// The rule form's fields (create and update).
const RULE_FORM: &[Field] = &[
    field("id", "string", true, "letters, digits, - and _"),
    field(
        "base_version",
        "string",
        false,
        "update: the version the form was filled from",
    ),
    field("target", "string", true, "page:node, e.g. home:hero"),
    field(
        "kind",
        "string",
        true,
        "hide, props, reorder, theme, insert, replace or variant",
    ),
    field(
        "index",
        "string",
        false,
        "reorder: the new position, 0 first",
    ),
    field(
        "patch",
        "string",
        false,
        "props: a JSON object merged into the node's props",
    ),
    field("theme", "string", false, "theme: its name"),
    field(
        "tokens",
        "string",
        false,
        "theme: design tokens, a JSON object",
    ),
    field(
        "node_type",
        "string",
        false,
        "insert, replace: the new module's type",
    ),
    field(
        "node_id",
        "string",
        false,
        "insert, replace: the new module's id",
    ),
    field(
        "node_props",
        "string",
        false,
        "insert, replace: its props, a JSON object",
    ),
    field(
        "position",
        "string",
        false,
        "insert: before, after (default), firstChild or lastChild",
    ),
    field(
        "trigger",
        "string",
        false,
        "pageLoad (default), scrollDepth, timeOnPage, exitIntent, click, journeyStep or signal",
    ),
    field(
        "trigger_value",
        "string",
        false,
        "the trigger's percent, seconds, node, step or signal name",
    ),
    field(
        "c1_attr",
        "string",
        false,
        "condition rows: the context attribute, e.g. device",
    ),
    field(
        "c2_attr",
        "string",
        false,
        "condition rows: the context attribute, e.g. device",
    ),
    field(
        "c3_attr",
        "string",
        false,
        "condition rows: the context attribute, e.g. device",
    ),
    field(
        "c4_attr",
        "string",
        false,
        "condition rows: the context attribute, e.g. device",
    ),
    field(
        "c1_op",
        "string",
        false,
        "is, isNot, in, notIn, gt, gte, lt, lte, matches, exists or missing",
    ),
    field(
        "c2_op",
        "string",
        false,
        "is, isNot, in, notIn, gt, gte, lt, lte, matches, exists or missing",
    ),
    field(
        "c3_op",
        "string",
        false,
        "is, isNot, in, notIn, gt, gte, lt, lte, matches, exists or missing",
    ),
    field(
        "c4_op",
        "string",
        false,
        "is, isNot, in, notIn, gt, gte, lt, lte, matches, exists or missing",
    ),
    field(
        "c1_value",
        "string",
        false,
        "the value; in and notIn take a comma-separated list",
    ),
    field(
        "c2_value",
        "string",
        false,
        "the value; in and notIn take a comma-separated list",
    ),
    field(
        "c3_value",
        "string",
        false,
        "the value; in and notIn take a comma-separated list",
    ),
    field(
        "c4_value",
        "string",
        false,
        "the value; in and notIn take a comma-separated list",
    ),
    field(
        "conditions",
        "string",
        false,
        "more conditions, a JSON object (GrowthBook syntax); all must hold",
    ),
    field(
        "start",
        "string",
        false,
        "schedule start, UTC, 2026-12-01T09:00",
    ),
    field("end", "string", false, "schedule end (exclusive), UTC"),
    field(
        "time_zone",
        "string",
        false,
        "IANA zone of the windows, default UTC",
    ),
    field(
        "w1_days",
        "string",
        false,
        "weekly windows: mon-fri, sat, sun, weekdays, weekend; empty for every day",
    ),
    field(
        "w2_days",
        "string",
        false,
        "weekly windows: mon-fri, sat, sun, weekdays, weekend; empty for every day",
    ),
    field(
        "w3_days",
        "string",
        false,
        "weekly windows: mon-fri, sat, sun, weekdays, weekend; empty for every day",
    ),
    field(
        "w1_from",
        "string",
        false,
        "window from and to, HH:MM (from after to runs overnight)",
    ),
    field(
        "w1_to",
        "string",
        false,
        "window from and to, HH:MM (from after to runs overnight)",
    ),
    field(
        "w2_from",
        "string",
        false,
        "window from and to, HH:MM (from after to runs overnight)",
    ),
    field(
        "w2_to",
        "string",
        false,
        "window from and to, HH:MM (from after to runs overnight)",
    ),
    field(
        "w3_from",
        "string",
        false,
        "window from and to, HH:MM (from after to runs overnight)",
    ),
    field(
        "w3_to",
        "string",
        false,
        "window from and to, HH:MM (from after to runs overnight)",
    ),
    field(
        "experiment",
        "string",
        false,
        "variant: the experiment key (default the rule id)",
    ),
    field(
        "coverage",
        "string",
        false,
        "variant: percent of visitors in the experiment (default 100)",
    ),
    field(
        "hash_attribute",
        "string",
        false,
        "variant: the attribute hashed (default id)",
    ),
    field(
        "v1_key",
        "string",
        false,
        "variant rows: the variant's key (at least two)",
    ),
    field(
        "v2_key",
        "string",
        false,
        "variant rows: the variant's key (at least two)",
    ),
    field(
        "v3_key",
        "string",
        false,
        "variant rows: the variant's key (at least two)",
    ),
    field(
        "v4_key",
        "string",
        false,
        "variant rows: the variant's key (at least two)",
    ),
    field(
        "v1_weight",
        "string",
        false,
        "percent; all empty for equal weights, otherwise adding up to 100",
    ),
    field(
        "v2_weight",
        "string",
        false,
        "percent; all empty for equal weights, otherwise adding up to 100",
    ),
    field(
        "v3_weight",
        "string",
        false,
        "percent; all empty for equal weights, otherwise adding up to 100",
    ),
    field(
        "v4_weight",
        "string",
        false,
        "percent; all empty for equal weights, otherwise adding up to 100",
    ),
    field(
        "v1_op",
        "string",
        false,
        "what the variant does to the target: none, hide, props, reorder, theme or json",
    ),
    field(
        "v2_op",
        "string",
        false,
        "what the variant does to the target: none, hide, props, reorder, theme or json",
    ),
    field(
        "v3_op",
        "string",
        false,
        "what the variant does to the target: none, hide, props, reorder, theme or json",
    ),
    field(
        "v4_op",
        "string",
        false,
        "what the variant does to the target: none, hide, props, reorder, theme or json",
    ),
    field(
        "v1_value",
        "string",
        false,
        "its value: props JSON, position, theme name or a JSON list of operations",
    ),
    field(
        "v2_value",
        "string",
        false,
        "its value: props JSON, position, theme name or a JSON list of operations",
    ),
    field(
        "v3_value",
        "string",
        false,
        "its value: props JSON, position, theme name or a JSON list of operations",
    ),
    field(
        "v4_value",
        "string",
        false,
        "its value: props JSON, position, theme name or a JSON list of operations",
    ),
    field("decide", "string", false, "variant: the decision policy, manual (default: Cortex suggests) or auto (Cortex promotes and switches off by itself)"),
    field("goal", "string", false, "variant: the goal metric, conversion (default) or dwell"),
    field("guardrail", "string", false, "variant: a metric a winner must not make worse: dwell (default), conversion or none"),
    field("min_days", "string", false, "variant: days before any decision (default 7, 1-365)"),
    field("min_units", "string", false, "variant: visitors per variant before any decision (default 1000, at least 100)"),
    field("alpha", "string", false, "variant: the sequential test's error rate (default 0.05, 0.001-0.2)"),
    field("guard_hours", "string", false, "hours a guard watches each change and rolls it back if the page converts significantly worse (1-744; empty: no guard)"),
    field("priority", "string", false, "whole number, default 0"),
    field(
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
    endpoint("GET", "/api/auth/setup-state", Public, "Whether first-admin setup is still open", NoInput, &[], Output::Scalar("boolean")),
    endpoint("POST", "/api/auth/setup", Public, "Create the first admin with the one-time setup token and sign in", FormOrJson,
        &[field("token", "string", true, "the setup token printed at first start"), field("username", "string", true, "3-64 of a-z 0-9 . _ -"), field("password", "string", true, "at least 12 characters")],
        Output::Ref("Principal")),
    endpoint("POST", "/api/auth/login", Public, "Sign in; sets the HttpOnly session cookie. Rate limited per address and username", FormOrJson,
        &[field("username", "string", true, ""), field("password", "string", true, "")], Output::Ref("Principal")),
    endpoint("POST", "/api/auth/logout", Needs(Role::Viewer), "End the current session and clear the cookie", FormOrJson, &[], Output::Null),
    endpoint("GET", "/api/auth/me", Public, "The signed-in principal, or null", NoInput, &[], Output::OptionalRef("Principal")),
    endpoint("GET", "/api/users", Needs(Role::Admin), "List users", NoInput, &[], Output::ListOf("UserSummary")),
    endpoint("POST", "/api/users/create", Needs(Role::Admin), "Create a user", FormOrJson,
        &[field("username", "string", true, ""), field("password", "string", true, "at least 12 characters"), field("role", "Role", true, "")],
        Output::Ref("UserSummary")),
    endpoint("POST", "/api/users/set-role", Needs(Role::Admin), "Change a user's role (the last admin cannot be demoted)", FormOrJson,
        &[field("id", "UserId", true, ""), field("role", "Role", true, "")], Output::Ref("UserSummary")),
    endpoint("POST", "/api/users/delete", Needs(Role::Admin), "Delete a user and end their sessions (not the last admin)", FormOrJson,
        &[field("id", "UserId", true, "")], Output::Ref("UserSummary")),
    endpoint("GET", "/api/tokens", Needs(Role::Admin), "List API tokens (never their secrets)", NoInput, &[], Output::ListOf("TokenSummary")),
    endpoint("POST", "/api/tokens/create", Needs(Role::Admin), "Create an API token; the secret is in this response only", FormOrJson,
        &[field("name", "string", true, "1-64 printable characters"), field("role", "Role", true, ""), field("ttl_days", "string", false, "lifetime in days, 1-3650; empty for none")],
        Output::Ref("CreatedToken")),
    endpoint("GET", "/api/tokens/take-new-secret", Needs(Role::Admin), "Read and clear the one-time cookie that carries a new token's secret after a form post without JavaScript (null when there is none)", NoInput, &[], Output::OptionalScalar("string")),
    endpoint("POST", "/api/tokens/revoke", Needs(Role::Admin), "Revoke an API token at once", FormOrJson, &[field("id", "TokenId", true, "")], Output::Ref("TokenSummary")),
    endpoint("GET", "/api/audit", Needs(Role::Viewer), "The audit log, newest first", Query,
        &[field("actor", "string", false, "substring"), field("action", "string", false, "prefix, e.g. `user.`"), field("target", "string", false, "substring"),
          field("before_seq", "integer", false, "entries before this sequence number"), field("limit", "integer", false, "1-500, default 50")],
        Output::ListOf("AuditEntry")),
    endpoint("GET", "/api/experiments", Needs(Role::Viewer), "Every experiment (variant rule) not deleted, over its whole runtime (at most a year): its state (running, decided, off) and decision policy, each variant's visitors and conversion rate with the relative lift against the baseline (sequential 95 % interval, p-value, chance to win), the sample ratio check, what the decision engine suggests now, the newest decision, a verdict in words, and two charts: each variant's cumulative lift over the baseline with its sequential interval, and its conversions per exposure per day. Running ones first; at most 200", NoInput, &[], Output::ListOf("ExperimentSummary")),
    endpoint("GET", "/api/suggestions", Needs(Role::Viewer), "Draft rules the suggestion engine proposes from the last four weeks of analytics per segment (device, traffic source) and time of day: a module one segment clearly clicks less (or more) than everyone else moved down (or up) for that segment; a variant that clearly converts better for one segment, as an experiment for it alone; a rule that converts clearly better at one part of the day, scheduled to it. Each a draft (switched off) with its evidence (counts, rates, p-value) and what an editor did with it. Strongest first; at most 50, then any a language model proposed", NoInput, &[], Output::ListOf("Suggestion")),
    endpoint("POST", "/api/suggestions/accept", Needs(Role::Editor), "Save a suggestion's draft as a new rule, switched off (audited as layout-mutation.save and suggestion.accept). No such suggestion now: 404; accepted or dismissed already, or its rule id taken: 409", FormOrJson,
        &[field("id", "string", true, "suggestion id")], Output::Ref("RuleVersion")),
    endpoint("POST", "/api/suggestions/dismiss", Needs(Role::Editor), "Dismiss a suggestion: it stays listed as dismissed (audited as suggestion.dismiss). No such suggestion now: 404; accepted or dismissed already: 409", FormOrJson,
        &[field("id", "string", true, "suggestion id")], Output::Ref("SuggestionState")),
    endpoint("GET", "/api/alerts", Needs(Role::Viewer), "Every alert the hub raised, newest first (at most 200): an experiment decided by itself (decision), a change a guard rolled back (autoRollback), a source with 10 neuron requests refused within 10 minutes (refusals), a neuron's failed migration (migration), neurons on their kind's expected release reporting another schema or API fingerprint (drift), 3 or more and at least 30 % of a kind's neurons unhealthy (unhealthy; at most once an hour per kind); each condition raised once, whichever hub sees it; each with its text, where its webhook delivery stands (pending, delivered, failed, or dashboardOnly when no webhook was configured) and who acknowledged it. Kept 90 days once they wait for nothing", NoInput, &[], Output::ListOf("AlertEntry")),
    endpoint("POST", "/api/alerts/acknowledge", Needs(Role::Operator), "Acknowledge an alert: it stays listed, marked with who and when (audited as alert.acknowledge). Malformed id: 400; no such alert: 404; acknowledged already: 409", FormOrJson,
        &[field("id", "string", true, "alert id")], Output::Ref("AlertEntry")),
    endpoint("GET", "/api/overview", Needs(Role::Viewer), "The hub at a glance: its status, neurons by status, the versions each kind runs (drift), rules by status, running experiments with their leading variant, the newest pushes with how far they spread, refusal alerts, and events stored per 5 minutes over the last 6 hours", NoInput, &[], Output::Ref("Overview")),
    endpoint("GET", "/api/status", Needs(Role::Viewer), "Hub status: version, database, uptime, audit-chain integrity", NoInput, &[], Output::Ref("HubStatus")),
    Endpoint { method: "POST", path: "/api/federation/register", access: Access::Neuron, server_fn: false,
        summary: "A neuron joins (or rejoins after a restart). Server neurons sign: x-cortex-neuron, x-cortex-timestamp (ms), x-cortex-nonce and x-cortex-signature (Ed25519 over method, path, SHA-256 of the body, timestamp, nonce); the join policy decides: active with a neuron token, pending, or 403. Browser neurons (browser kinds, no publicKey) send x-cortex-publishable-key from a page on one of the key's origins and join active",
        input: Json("Registration"), fields: &[], output: Output::Ref("Joined") },
    Endpoint { method: "POST", path: "/api/federation/heartbeat", access: Access::Neuron, server_fn: false,
        summary: "A joined neuron reports health, checks, version and load (Authorization: Bearer ctn_…); the answer carries a fresh neuron token",
        input: Json("Heartbeat"), fields: &[], output: Output::Ref("Joined") },
    endpoint("GET", "/api/federation/health", Needs(Role::Viewer), "The fleet: counts by status, version and region over every neuron, and one page of the neurons that match status and q, with their health", Query,
        &[field("status", "string", false, "pending, active, degraded, unhealthy, draining or retired"), field("q", "string", false, "substring of id, app, kind, version or a tag (at most 200 characters)"),
          field("offset", "integer", false, "neurons to skip (paging)"), field("limit", "integer", false, "page size, 1-500 (default 60)")],
        Output::Ref("FleetHealth")),
    endpoint("GET", "/api/federation/push-spread", Needs(Role::Viewer), "How one push spread: neurons holding exactly that revision at 61 moments from the push to its last acknowledgement (at least 10 s), against the joined neurons it targets now. Neither field: the newest push (null when nothing was pushed); unknown push: 404", Query,
        &[field("scope", "string", false, "global, tag:<tag> or neuron:<id> (with revision)"), field("revision", "integer", false, "the push's revision (with scope)")], Output::OptionalRef("PushSpread")),
    endpoint("GET", "/api/releases", Needs(Role::Viewer), "Every neuron kind's releases (newest first, at most 50), its expected release, the versions its joined neurons run, their last migrations by state, and each joined neuron (at most 200; failed migrations, then drifting ones first) with its fingerprints and how it differs from the expected release (version, schema or API fingerprint)", NoInput, &[], Output::Ref("ReleaseBoard")),
    endpoint("POST", "/api/releases/create", Needs(Role::Operator), "Describe a release of a kind (audited as release.create): its version, the config bundle revision it goes with, the ids of the migrations its neurons run before and after switching (the neuron ships them; a release carries no code), and the schema and API fingerprints they are expected to report. Malformed, unknown kind or a bundle revision never pushed: 400; the kind has that version already: 409 (releases do not change)", FormOrJson,
        &[field("kind", "string", true, "a neuron kind"), field("version", "string", true, "1-64 characters, as neurons report it"),
          field("pre_migrations", "string", false, "migration ids run before the switch, in order (comma, space or newline separated; at most 32, each 1-128 of A-Z a-z 0-9 . _ - /)"),
          field("post_migrations", "string", false, "migration ids run after the switch, in order"),
          field("bundle_scope", "string", false, "global, tag:<tag> or neuron:<id> (with bundle_revision)"), field("bundle_revision", "string", false, "the config bundle revision it goes with (with bundle_scope)"),
          field("schema_fingerprint", "string", false, "expected schema fingerprint, 1-128 of A-Z a-z 0-9 : . _ - + (e.g. sha256:<hex>)"), field("api_fingerprint", "string", false, "expected API fingerprint"),
          field("notes", "string", false, "at most 4000 bytes")], Output::Ref("Release")),
    endpoint("POST", "/api/releases/expect", Needs(Role::Operator), "Make a described release the one a kind should run (audited as release.expect, with the one before): neurons of the kind that run another version, or report other fingerprints than it names, are flagged as drifting. No such release: 404", FormOrJson,
        &[field("kind", "string", true, "a neuron kind"), field("version", "string", true, "a release of that kind")], Output::Ref("Expectation")),
    endpoint("GET", "/api/rollouts", Needs(Role::Viewer), "The running and paused rollouts and the 20 newest finished ones, newest first, each with its counts (neurons targeted, in the current stage, on the release, updating, failed, waiting, and browser neurons counted only) and every neuron's update (state, step, message)", NoInput, &[], Output::ListOf("RolloutView")),
    endpoint("POST", "/api/rollouts/start", Needs(Role::Operator), "Start moving neurons of a kind to a described release (audited as rollout.start): every joined server neuron of the kind in the scope and the first stage is sent an update order as it connects (pre-migrations, switch, post-migrations); browser neurons are counted, not commanded. A failed update pauses the rollout; once all it targets run the release it is done (a whole kind's release becomes the expected one). Malformed, unknown release, or a neuron not of the kind: 400; the kind has a running or paused rollout: 409", FormOrJson,
        &[field("kind", "string", true, "a neuron kind"), field("version", "string", true, "a described release of that kind"),
          field("scope", "string", false, "global (default: every neuron of the kind), tag:<tag> or neuron:<id>"),
          field("rollout_percent", "string", false, "first stage: a stable share of the neurons, 1-100 (empty or 100: all)"), field("rollout_tags", "string", false, "first stage: neurons with any of these tags (comma or space separated, at most 32)")], Output::Ref("Rollout")),
    endpoint("POST", "/api/rollouts/act", Needs(Role::Operator), "Pause (no new orders; updates under way finish), resume or abort a rollout (audited as rollout.pause, rollout.resume or rollout.abort). Unknown rollout: 404; the action does not fit its state: 409", FormOrJson,
        &[field("id", "string", true, "a rollout id"), field("action", "string", true, "pause, resume or abort")], Output::Ref("Rollout")),
    endpoint("POST", "/api/rollouts/stage", Needs(Role::Operator), "Set a running or paused rollout's stage (audited as rollout.stage): widening it sends the order to the neurons it adds; everyone already in stays in. Unknown rollout: 404; finished: 409", FormOrJson,
        &[field("id", "string", true, "a rollout id"), field("rollout_percent", "string", false, "a stable share of the neurons, 1-100 (empty or 100: all)"), field("rollout_tags", "string", false, "neurons with any of these tags")], Output::Ref("Rollout")),
    endpoint("GET", "/api/federation/rollback-rules", Needs(Role::Viewer), "The automatic rollback rules: the default and each kind's own (window in minutes, minimum errors, error-rate ratio, unhealthy share, latency ratio and minimum samples, enabled)", NoInput, &[], Output::Ref("RollbackRules")),
    endpoint("POST", "/api/federation/rollback-rules/set", Needs(Role::Operator), "Set the automatic rollback rule of one kind, or the default (audited as rollback-rules.set): a push or a rollout whose neurons, within the window, report errors per minute at least the ratio times the window before (and at least the minimum), a mean latency (latency events) at least the latency ratio times before, are unhealthy or silent in the share or more, or fail a post-migration, is rolled back by itself (when enabled; otherwise only alerted). Out of bounds or an unknown kind: 400", FormOrJson,
        &[field("kind", "string", false, "a neuron kind (empty: the default rule)"), field("enabled", "string", false, "true to roll back by itself (absent: false, alert only)"),
          field("window_minutes", "string", false, "1-1440 (left out: the current value; 10 at first)"), field("min_errors", "string", false, "1-1000000 (left out: the current value; 20 at first)"),
          field("error_ratio", "string", false, "1.1-100 (left out: the current value; 2 at first)"), field("unhealthy_percent", "string", false, "1-100 (left out: the current value; 50 at first)"),
          field("latency_ratio", "string", false, "1.1-100: the mean latency after over before (left out: the current value; 2 at first)"), field("min_latency_samples", "string", false, "1-1000000 latency events each side (left out: the current value; 20 at first)"),
          field("remove", "string", false, "true to remove the kind's own rule (it then follows the default)")], Output::Ref("RollbackRules")),
    endpoint("GET", "/api/federation/scope-history", Needs(Role::Viewer), "The revisions pushed to a scope, newest first (at most 50), each with its kind, author, time, staged audience, the revision it was made from and, for a stale push applied under last write wins, the revision it overwrote; the newest of each kind is marked current (what its neurons hold)", Query,
        &[field("scope", "string", true, "global, tag:<tag> or neuron:<id>")], Output::Ref("ScopeHistory")),
    endpoint("GET", "/api/federation/rollback-preview", Needs(Role::Viewer), "What rolling a scope back to a revision would change: a line diff (pretty JSON, two lines of context) from the newest bundle of that kind to the chosen one. No such revision: 404; layout rules (rolled back per rule): 400", Query,
        &[field("scope", "string", true, "global, tag:<tag> or neuron:<id>"), field("revision", "integer", true, "the revision to roll back to")], Output::Ref("RollbackPreview")),
    endpoint("POST", "/api/federation/rollback", Needs(Role::Editor), "Roll a scope back to a revision: its content is pushed again as the next revision, to everyone in the scope (audited as bundle.rollback with the revision replaced and the one restored). No such revision: 404; layout rules: 400; its neurons hold that content already: 409. In a protected scope it is held for review like any push (held names the change request)", FormOrJson,
        &[field("scope", "string", true, "global, tag:<tag> or neuron:<id>"), field("revision", "integer", true, "the revision to roll back to")], Output::Ref("PushResult")),
    endpoint("GET", "/api/federation/kinds", Needs(Role::Viewer), "Neuron kinds the hub knows, with their capabilities and health checks", NoInput, &[], Output::ListOf("NeuronKind")),
    endpoint("POST", "/api/federation/neurons/set-status", Needs(Role::Operator), "Approve a pending neuron or reactivate a retired one (admin), or drain, retire or reactivate one (operator), as the transition table in README_federation.md allows (409 otherwise). A retired neuron's tokens stop working at once, on every hub", FormOrJson,
        &[field("id", "string", true, "neuron id"), field("status", "string", true, "active, draining or retired")], Output::Ref("Neuron")),
    endpoint("POST", "/api/federation/neurons/bulk", Needs(Role::Operator), "Approve (admin) or deny (remove) many pending neurons at once, or drain or retire many; each is checked as on its own (the transition table), and the answer lists what was done and what failed with why", FormOrJson,
        &[field("action", "string", true, "approve, deny, drain or retire"), field("ids", "string", true, "neuron ids, comma, space or newline separated (at most 1000 with pick)"),
          field("pick[]", "string", false, "a neuron id ticked in a form; repeat for more (added to ids)")], Output::Ref("BulkOutcome")),
    endpoint("POST", "/api/federation/neurons/pin", Needs(Role::Operator), "Pin a neuron (never retired for silence) or unpin it", FormOrJson,
        &[field("id", "string", true, "neuron id"), field("pinned", "boolean", true, "")], Output::Ref("Neuron")),
    endpoint("POST", "/api/federation/neurons/remove", Needs(Role::Operator), "Remove a neuron from the registry (deny a pending one); it may register again", FormOrJson,
        &[field("id", "string", true, "neuron id")], Output::Ref("Neuron")),
    Endpoint { method: "GET", path: "/api/federation/hub", access: Public, server_fn: false,
        summary: "Who this hub is: the id every signed neuron request names (hubs on one database share it), so a request signed for one hub is refused by any other",
        input: NoInput, fields: &[], output: Output::Ref("HubIdentity") },
    Endpoint { method: "POST", path: "/api/federation/ws-ticket", access: Access::Neuron, server_fn: false,
        summary: "A one-time ticket for the push channel (Authorization: Bearer ctn_…), valid 30 seconds and for one connection: browsers, which cannot send headers on a WebSocket, connect with `?ticket=` instead of putting their token in a URL",
        input: NoInput, fields: &[], output: Output::Ref("WsTicket") },
    Endpoint { method: "GET", path: "/api/federation/ws", access: Access::Neuron, server_fn: false,
        summary: "The push channel (WebSocket; neuron token in `Authorization: Bearer`, or a one-time `?ticket=` from POST /api/federation/ws-ticket; a browser neuron's page must be on one of its key's origins). JSON messages: hub→neuron welcome, push, token, command {id, command}, update {order}, override {order}, eventsAck, error; neuron→hub hello {revisions}, ack {scope, revision}, heartbeat, commandResult {id, ok, message}, events {batchId, events}. After hello the hub sends every bundle the neuron missed. A malformed message closes that socket with a reason",
        input: NoInput, fields: &[], output: Output::Text },
    endpoint("POST", "/api/federation/push-config", Needs(Role::Editor), "Push a bundle (a JSON object of one kind) to a scope, optionally staged (a percentage and/or tags first): stored as the scope's next revision and sent at once to connected neurons in its audience; the answer says how many are targeted and reached. Promote a staged push by pushing it again without a rollout", FormOrJson,
        &[field("scope", "string", true, "global, tag:<tag> or neuron:<id>"), field("kind", "string", true, "config, experiments, offers or layoutRules"),
          field("body", "string", true, "the bundle: a JSON object, as a string (at most 256 KiB)"),
          field("rollout_percent", "string", false, "staged rollout: a stable share of the scope's neurons, 1-99 (empty: everyone)"),
          field("rollout_tags", "string", false, "staged rollout: neurons with one of these tags first, comma separated"),
          field("base_revision", "string", false, "the revision of this kind in the scope the bundle was made from (0: nothing pushed yet). When another was pushed since, the scope's policy decides: last write wins applies it (overwrote names the revision replaced), review holds it as a change request (held names it, revision is 0); a protected scope holds every push; a revision the scope never had: 400")], Output::Ref("PushResult")),
    endpoint("GET", "/api/federation/overrides", Needs(Role::Viewer), "Every neuron's config override: keys set over its config and/or a pinned revision, who set it, why, and until when", NoInput, &[], Output::ListOf("ConfigOverride")),
    endpoint("POST", "/api/federation/neurons/override", Needs(Role::Editor), "Override one server neuron's config, replacing any override it had (audited as override.set): keys set over the config in force, and/or its config pinned to a config revision of one of its scopes, until an optional expiry (then the hub ends it, audited as override.expire by hub, and the neuron drops it by itself too). Sent to the neuron at once and on every connect. Neither keys nor a pin, over 100 keys or 64 KiB, a pin outside its scopes or not config, an expiry in the past or over 90 days, a browser neuron: 400; unknown neuron: 404", FormOrJson,
        &[field("id", "string", true, "neuron id"), field("keys", "string", false, "a JSON object of keys to set over its config"),
          field("pin_scope", "string", false, "with pin_revision: a scope of this neuron (global, tag:<tag> or neuron:<id>)"), field("pin_revision", "string", false, "with pin_scope: a config revision of that scope"),
          field("expires_in", "string", false, "how long it lasts, e.g. 30m, 2h, 7d (empty: until cleared)"), field("reason", "string", false, "why (at most 500 characters)")], Output::Ref("ConfigOverride")),
    endpoint("POST", "/api/federation/neurons/override/clear", Needs(Role::Editor), "Clear one neuron's config override; the pushed config is in force again at once (audited as override.clear). No override: 404", FormOrJson,
        &[field("id", "string", true, "neuron id")], Output::Ref("ConfigOverride")),
    endpoint("GET", "/api/federation/scope-policies", Needs(Role::Viewer), "Each scope's conflict policy: mode lastWriteWins (a stale push is applied and the revision it overwrote recorded) or review (a stale push, or one naming no base revision, becomes a change request), and protected (every push becomes a change request). Scopes left out are last write wins, unprotected", NoInput, &[], Output::Ref("ScopePolicies")),
    endpoint("POST", "/api/federation/scope-policies/set", Needs(Role::Admin), "Set one scope's conflict policy (audited as scope-policy.set); lastWriteWins and not protected puts it back to the default. Malformed scope or mode, or more than 500 scopes with a policy: 400", FormOrJson,
        &[field("scope", "string", true, "global, tag:<tag> or neuron:<id>"), field("mode", "string", false, "lastWriteWins (default) or review"),
          field("protected", "string", false, "true: every push to the scope is reviewed (absent: false)")], Output::Ref("ScopePolicies")),
    endpoint("GET", "/api/federation/change-requests", Needs(Role::Viewer), "Change requests (pushes held for review), newest first, at most 100, with their comments and decision", Query,
        &[field("state", "string", false, "open, applied, rejected or all (default)")], Output::ListOf("ChangeRequest")),
    endpoint("GET", "/api/federation/change-request", Needs(Role::Viewer), "One change request with the diff from its scope's newest revision of its kind to what it would push, and how many revisions of that kind were pushed since its base. Unknown: 404", Query,
        &[field("id", "string", true, "a change request id")], Output::Ref("ChangeRequestView")),
    endpoint("POST", "/api/federation/change-requests/comment", Needs(Role::Editor), "Comment on an open change request (audited as changeRequest.comment). Empty or over 2000 characters: 400; unknown: 404; decided, or 100 comments already: 409", FormOrJson,
        &[field("id", "string", true, "a change request id"), field("text", "string", true, "1-2000 characters")], Output::Ref("ChangeRequest")),
    endpoint("POST", "/api/federation/change-requests/approve", Needs(Role::Editor), "Approve an open change request: its bundle is pushed as the scope's next revision, to its audience, at once (audited as changeRequest.approve and bundle.push). Its author may not approve it unless an admin: 403; unknown: 404; decided already, or the scope moved on from seen_revision: 409", FormOrJson,
        &[field("id", "string", true, "a change request id"), field("seen_revision", "string", true, "the request's currentRevision its diff was read against (0: none); another push since: 409")], Output::Ref("ChangeRequest")),
    endpoint("POST", "/api/federation/change-requests/reject", Needs(Role::Editor), "Reject an open change request (its author may withdraw it this way); it stays in the history with the reason (audited as changeRequest.reject). Reason over 500 characters: 400; unknown: 404; decided already: 409", FormOrJson,
        &[field("id", "string", true, "a change request id"), field("note", "string", false, "why (at most 500 characters)")], Output::Ref("ChangeRequest")),
    endpoint("GET", "/api/federation/pushes", Needs(Role::Viewer), "Recent pushes and their propagation: neurons targeted and acked", NoInput, &[], Output::ListOf("Propagation")),
    Endpoint { method: "POST", path: "/api/federation/stream-analytics", access: Access::Neuron, server_fn: false,
        summary: "A joined neuron sends a batch of events (Authorization: Bearer ctn_…; at most 5000 events, 1 MiB). Acknowledged once durably spooled on the hub; a batch id is counted once per neuron (`duplicate: true` when already seen). Over the neuron's rate: 429 with Retry-After; spool full: 503. Also accepted on the channel as an `events` message",
        input: Json("EventBatch"), fields: &[], output: Output::Ref("BatchAck") },
    endpoint("POST", "/api/federation/hot-reload", Needs(Role::Operator), "Ask every connected neuron in a scope to re-fetch and re-apply its config without a restart; each reports done or failed with a reason (see /api/federation/commands)", FormOrJson,
        &[field("scope", "string", true, "global, tag:<tag> or neuron:<id>")], Output::Ref("CommandRun")),
    endpoint("POST", "/api/federation/sync", Needs(Role::Operator), "Ask every connected neuron in a scope to resend its revisions and take what it missed", FormOrJson,
        &[field("scope", "string", true, "global, tag:<tag> or neuron:<id>")], Output::Ref("CommandRun")),
    endpoint("GET", "/api/federation/commands", Needs(Role::Viewer), "Recent commands and each neuron's answer (pending, done, failed)", NoInput, &[], Output::ListOf("CommandRun")),
    endpoint("GET", "/api/federation/reports", Needs(Role::Viewer), "Logs and errors neurons reported, newest first (at most 100)", Query,
        &[field("neuron", "string", false, "one neuron id"), field("q", "string", false, "text to find (case-insensitive)"), field("kind", "string", false, "error or log; empty for both")],
        Output::ListOf("NeuronEvent")),
    endpoint("GET", "/api/federation/alerts", Needs(Role::Viewer), "Sources whose neuron requests keep being refused (10 or more in 10 minutes: forged or replayed signatures, stale clocks, unknown keys, wrong tokens); the first three per source are audited as neuron.refused", NoInput, &[], Output::ListOf("RefusalAlert")),
    endpoint("GET", "/api/federation/publishable-keys", Needs(Role::Viewer), "Publishable keys and the origins each is tied to (not secrets: they sit in web pages)", NoInput, &[], Output::ListOf("PublishableKey")),
    endpoint("POST", "/api/federation/publishable-keys/create", Needs(Role::Admin), "Create a publishable key: browser apps on the listed origins join with it (header x-cortex-publishable-key on /api/federation/register)", FormOrJson,
        &[field("name", "string", true, "1-64 printable characters"), field("origins", "string", true, "exact origins such as https://shop.example.com, comma separated (at most 20)")], Output::Ref("PublishableKey")),
    endpoint("POST", "/api/federation/publishable-keys/revoke", Needs(Role::Admin), "Revoke a publishable key: no new browser neuron joins with it", FormOrJson,
        &[field("key", "string", true, "the key, pk_…")], Output::Ref("PublishableKey")),
    Endpoint { method: "POST", path: "/api/layout-mutation/apply", access: Access::NeuronOrRole(Role::Viewer), server_fn: false,
        summary: "Resolve a page for a visitor: the base layout with the rules that target this context applied, the exposures to log and (explain: true) the trace. Callers: a neuron token (Authorization: Bearer ctn_…), a publishable key (x-cortex-publishable-key, from one of its origins; CORS allowed) or a user or API token (viewer). A broken rule never fails the call: it is skipped and named in `warnings`. A browser app (publishable key or browser neuron token) also gets `receipt`: its events about these rules count only with it. At most 16 KiB; unknown page: 404",
        input: Json("ApplyRequest"), fields: &[], output: Output::Ref("Applied") },
    Endpoint { method: "POST", path: "/api/layout-mutation/sync", access: Access::NeuronOrRole(Role::Viewer), server_fn: false,
        summary: "Sync a neuron's rule set: send {revision} (the one it holds; 0 for none) and get kind upToDate, diff (the rules and layouts changed since, deletions included) or full (the whole set, also when the revision is unknown to this hub). Callers as for apply. Import another hub's export: {import: <the full set>}, editor with an API token, at most 4 MiB (over CORTEX_MAX_BODY_BYTES if that is smaller); every layout and rule is validated first (errors name the item and field), then stored as new versions and audited",
        input: Json("SyncRequest"), fields: &[], output: Output::Ref("SyncAnswer") },
    Endpoint { method: "POST", path: "/api/layout-mutation/report", access: Access::NeuronOrOwnPages, server_fn: false,
        summary: "Record a batch of layout-mutation events as analytics (durable before the answer; a resent batchId counts once): exposure, pageView, click (value: the heatmap cell), conversion, dwell (value in ms), scroll (value: the deepest percent of the page seen), each with mutationId and variant to count for a rule, and unit (the visitor) for rates. Callers: a neuron token, a publishable key (from one of its origins; CORS allowed) or the hub's own storefront pages (same origin, with the page's signed `receipt`: only events about the rules and variants the page showed that visitor; 403 otherwise). At most 1 MiB and 5,000 events; over the rate limit (per neuron, per visitor): 429 with Retry-After",
        input: Json("EventBatch"), fields: &[], output: Output::Ref("BatchAck") },
    Endpoint { method: "GET", path: "/api/layout-mutation/report", access: Access::NeuronOrRole(Role::Viewer), server_fn: false,
        summary: "Impact of layout mutations between from and to (default: the last 30 days; at most 366): per rule and variant the exposures, visitors exposed, clicks, conversions, conversion rate (Wilson 95 % interval), click rate and mean dwell (95 % interval); the same per UTC day; and each experiment variant against its baseline (control, or the rule's first variant) with the difference in conversion rate and its Newcombe 95 % interval, the relative lift with its sequential (always-valid) 95 % interval and p-value, and the chance to beat the baseline; and each experiment's sample ratio mismatch check against its weights. Neurons and viewers (publishable keys: 403)",
        input: Input::Query, fields: &[field("page", "string", false, "page slug"), field("rule", "string", false, "rule id"), field("variant", "string", false, "variant key"),
          field("from", "string", false, "RFC 3339 instant"), field("to", "string", false, "RFC 3339 instant")], output: Output::Ref("LayoutReport") },
    endpoint("GET", "/api/layout-mutation/rules", Needs(Role::Viewer), "Layout mutation rules (the newest version of each) with their status: active, inactive, broken (a node it names is not in its page's layout; skipped at runtime) or deleted", Query,
        &[field("page", "string", false, "page slug"), field("layer", "string", false, "global, page, module or section"), field("kind", "string", false, "mutation type"),
          field("status", "string", false, "active, inactive, broken or deleted (deleted rules are listed only when asked for)"),
          field("created_by", "string", false, "substring of who saved the newest version"), field("q", "string", false, "substring of the id")],
        Output::ListOf("RuleRow")),
    endpoint("GET", "/api/layout-mutation/rule", Needs(Role::Viewer), "One rule: its newest version and status, every version (newest first) with the diff from the version before it, and its impact over the last 30 days (as GET /api/layout-mutation/report?rule=…); unknown id: 404", Query,
        &[field("id", "string", true, "rule id")], Output::Ref("RuleDetail")),
    endpoint("POST", "/api/layout-mutation/save", Needs(Role::Editor), "Create a rule or save a new version of one from its JSON (the rule format of README_layout-mutation.md; createdBy, timestamp and version are stamped). A version other than 0 in it is the version the editor read: if the rule changed since, nothing is saved (409). Validated against the page's base layout, the error names the field; audited as layout-mutation.save; pushed to every neuron", FormOrJson,
        &[field("rule", "string", true, "the rule as JSON, at most 64 KiB")], Output::Ref("RuleVersion")),
    endpoint("POST", "/api/layout-mutation/rollback", Needs(Role::Editor), "Restore exactly version `version` of a rule as its newest version; audited as layout-mutation.rollback", FormOrJson,
        &[field("id", "string", true, "rule id"), field("version", "integer", true, "the version to restore")], Output::Ref("RuleVersion")),
    endpoint("POST", "/api/layout-mutation/decide", Needs(Role::Editor), "Carry out what the decision engine suggests for a rule's running experiment now (promote the winner: everyone targeted gets it and nobody is counted any more; or switch a losing variant off: its visitors see the baseline), as this editor's decision: a new version recording the decision and its numbers, audited as layout-mutation.decide and pushed. Nothing to carry out (wait, blocked), the rule changed since `version`, or the engine no longer suggests `decision`: 409", FormOrJson,
        &[field("id", "string", true, "rule id"), field("version", "integer", true, "the version the editor looked at"), field("decision", "string", true, "what the editor saw suggested: `promote b` or `demote b`")], Output::Ref("RuleVersion")),
    endpoint("POST", "/api/layout-mutation/undo-decision", Needs(Role::Editor), "Undo the decision (automatic or by an editor) that wrote a rule's newest version: the version before it is restored with its decision policy set to manual, so the engine does not take the same decision again by itself; audited as layout-mutation.undo-decision. The newest version not the decision's `version`: 409", FormOrJson,
        &[field("id", "string", true, "rule id"), field("version", "integer", true, "the version the decision wrote")], Output::Ref("RuleVersion")),
    endpoint("POST", "/api/layout-mutation/set-active", Needs(Role::Editor), "Switch a rule on or off (a new version; audited as layout-mutation.activate or .deactivate). Switching on a rule that names a node its page lacks: 400 naming it (re-link it first)", FormOrJson,
        &[field("id", "string", true, "rule id"), field("active", "boolean", true, "true or false")], Output::Ref("RuleVersion")),
    endpoint("POST", "/api/layout-mutation/set-deleted", Needs(Role::Editor), "Delete a rule (deleted: true) or restore a deleted one (false); a new version, audited as layout-mutation.delete or .restore", FormOrJson,
        &[field("id", "string", true, "rule id"), field("deleted", "boolean", true, "true or false")], Output::Ref("RuleVersion")),
    endpoint("GET", "/api/layout-mutation/pages", Needs(Role::Viewer), "Every page with the nodes of its newest base layout (id, module type, depth) and where mutations are switched off", NoInput, &[], Output::ListOf("PageNodes")),
    endpoint("POST", "/api/layout-mutation/switch", Needs(Role::Editor), "Switch mutations off (off: true) or on for a module and everything inside it, or for a whole page (node: the page's root). A new version of the page's base layout, audited as layout.save and pushed; rules that would change a switched-off node are skipped with the reason in the trace", FormOrJson,
        &[field("page", "string", true, "page slug"), field("node", "string", true, "node id"), field("off", "boolean", true, "true or false")], Output::Ref("PageNodes")),
    endpoint("GET", "/api/help", Needs(Role::Viewer), "One of the admin pages' longer explanations, as text (the pages fetch them rather than carry them in the browser bundle). Unknown key: 404", Query,
        &[field("key", "string", true, "the explanation's key, e.g. switches")], Output::Scalar("string")),
    endpoint("GET", "/api/layout-mutation/migration-check", Needs(Role::Viewer), "Every page's rules checked against its newest base layout: each reference (target, anchor, parent, moduleId, per variant) to a node the layout lacks, with the proposed re-link and why (looked up in up to 20 earlier layout versions), whether it is unambiguous (same type, same parent, the only one there: the hub re-links those by itself when a layout is saved or imported, and at start) and the nodes of the same type to choose from", NoInput, &[], Output::ListOf("PageCheck")),
    endpoint("POST", "/api/layout-mutation/migration-check/resolve", Needs(Role::Editor), "Answer one broken reference: re-link it to node `to` of the page's newest layout (a new rule version, audited as layout-mutation.relink) or, with no `to`, switch the rule off (layout-mutation.deactivate). Unknown or deleted rule: 404; a node the rule does not name or that is not missing, or a `to` not in the layout: 400; the rule changed meanwhile: 409", FormOrJson,
        &[field("rule", "string", true, "rule id"), field("missing", "string", true, "the node id the rule names"), field("to", "string", false, "a node id of the page's newest layout; empty: switch the rule off")], Output::Ref("RuleVersion")),
    endpoint("GET", "/api/layout-mutation/backups", Needs(Role::Viewer), "Backups of a page's base layout and rules, written before the layout was replaced (saved or imported), newest first, without their content; the newest 20 per page are kept", Query,
        &[field("page", "string", false, "a page slug (all pages when absent)")], Output::ListOf("LayoutBackup")),
    endpoint("GET", "/api/layout-mutation/backup", Needs(Role::Viewer), "One layout backup with its content in `set`, a rule set in the export format (`cortex import` reads it). Unknown: 404", Query,
        &[field("id", "string", true, "a backup id")], Output::Ref("LayoutBackup")),
    endpoint("POST", "/api/layout-mutation/backups/restore", Needs(Role::Editor), "Undo a base layout change whole: the backup's layout and rules are checked and imported as new versions (the layout they replace is backed up in turn), audited as layout.restore-backup beside the import's records. Unknown: 404", FormOrJson,
        &[field("id", "string", true, "a backup id")], Output::Ref("SyncAnswer")),
    endpoint("POST", "/api/layout-mutation/create", Needs(Role::Editor), "Create a rule from the rule form: a target picked from a page's tree, the type and its fields, condition rows and raw conditions, trigger, schedule with weekly windows, and for a variant rule the experiment and its variants. The id must be new (409 otherwise); validated like every save (errors name the form field); audited as layout-mutation.save", FormOrJson, RULE_FORM, Output::Ref("RuleVersion")),
    endpoint("POST", "/api/layout-mutation/update", Needs(Role::Editor), "Save a new version of a rule from the rule form (the same fields as create, plus base_version). If the rule changed since base_version, nothing is saved (409). The rule keeps its on/off state; audited as layout-mutation.save", FormOrJson, RULE_FORM, Output::Ref("RuleVersion")),
    endpoint("GET", "/api/layout-mutation/preview", Needs(Role::Viewer), "A page as a described visitor would see it: its base layout, the resolved layout with the explain trace (what each rule did and why), and the context used. Counts no exposure", Query,
        &[field("page", "string", false, "page slug (default home)"), field("user", "string", false, "an identified visitor"), field("device", "string", false, "mobile, tablet or desktop"),
          field("persona", "string", false, "persona"), field("stage", "string", false, "journey stage"), field("locale", "string", false, "e.g. de-DE"), field("hike", "string", false, "the quiz answer"),
          field("referrer", "string", false, "referring URL"), field("utm", "string", false, "campaign tags as in a URL: utm_medium=email&utm_campaign=bf"), field("at", "string", false, "UTC time, 2026-11-29T22:30 (default now)"),
          field("did", "string", false, "what the visitor then did: exitIntent, scrolled, stayed (10 minutes) or all; rules waiting for it apply")],
        Output::Ref("Preview")),
    endpoint("GET", "/api/shop/page", Public, "The demo storefront page `slug` resolved for the calling visitor (visitor cookie, user agent, referrer, language and the page's query string: user, persona, stage, device, hike, utm_*); with `deferred` (`page`: the base layout, the rules that apply and every rule of the page waiting for an event; `awaited`: those events; `context`: the visitor's) when a rule waits for a browser event. Counts a page view and the exposures", Query,
        &[field("slug", "string", true, "home, sale, …"), field("query", "string", true, "the page's query string (may be empty)")], Output::Ref("ShopView")),
    endpoint("GET", "/api/federation/join-policy", Needs(Role::Viewer), "The join policy: open, allowlist (keys, or tags an admin bound to keys) or approval", NoInput, &[], Output::Ref("JoinPolicy")),
    endpoint("POST", "/api/federation/join-policy", Needs(Role::Admin), "Set the join policy", FormOrJson,
        &[field("mode", "string", true, "open, allowlist or approval"), field("keys", "string", false, "allowlist: public keys, comma or newline separated"),
          field("tags", "string", false, "allowlist: tags, comma separated; they admit keys an admin bound them to in key_tags (never tags a neuron declares)"),
          field("key_tags", "string", false, "tags an admin gives to keys: one key per line, then its tags (`KEY eu, canary`)")], Output::Ref("JoinPolicy")),
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
