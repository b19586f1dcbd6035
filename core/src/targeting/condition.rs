//! Targeting conditions in the MongoDB-style language GrowthBook uses, compiled once and
//! evaluated many times with the reference SDK's exact semantics.
//!
//! Compilation never fails on shapes the reference SDK tolerates (it evaluates them the same
//! way); [`Condition::validate`] is the strict check used when a rule is saved.

use super::{js, version};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};

/// Saved groups by id, in either of GrowthBook's forms: a bare array of values (legacy), a
/// `{"type":"list","attributeKey":…,"values":[…]}` list, or a
/// `{"type":"condition","condition":{…}}` group. Condition groups are compiled once here.
#[derive(Debug, Clone, Default)]
pub struct SavedGroups {
    entries: HashMap<String, Value>,
    conditions: HashMap<String, Node>,
}

impl SavedGroups {
    /// Builds saved groups from their JSON entries.
    pub fn new(entries: HashMap<String, Value>) -> Self {
        let conditions = entries
            .iter()
            .filter_map(|(id, e)| {
                match (e.get("type").and_then(Value::as_str), e.get("condition")) {
                    (Some("condition"), Some(c @ Value::Object(_))) => {
                        Some((id.clone(), compile_object(c)))
                    }
                    _ => None,
                }
            })
            .collect();
        Self {
            entries,
            conditions,
        }
    }

    /// Parses `{"id": entry, …}`.
    pub fn from_json(v: &Value) -> Self {
        Self::new(
            v.as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        )
    }

    /// Values for `$inGroup`: a missing group is empty; an entry of another shape is `None`
    /// (then both `$inGroup` and `$notInGroup` fail, as in the reference SDK).
    fn list_values(&self, id: &str) -> Option<&[Value]> {
        match self.entries.get(id) {
            None => Some(&[]),
            Some(Value::Array(v)) => Some(v),
            Some(Value::Object(m)) if m.get("type").and_then(Value::as_str) == Some("list") => {
                m.get("values").and_then(Value::as_array).map(Vec::as_slice)
            }
            Some(_) => None,
        }
    }
}

/// What evaluation carries along: the saved groups and the groups already entered (so a
/// group that refers to itself matches nobody instead of looping).
struct Env<'a> {
    groups: &'a SavedGroups,
    visited: Vec<&'a str>,
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub struct Condition {
    root: Node,
}

/// Why a condition was refused when saved; `path` says where (e.g. `$and[1].age.$gt`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("condition {path}: {message}")]
pub struct ConditionError {
    pub path: String,
    pub message: String,
}

#[derive(Debug, Clone)]
#[doc(hidden)]
pub enum Node {
    /// Every entry must pass (a condition object).
    All(Vec<Node>),
    Or(Vec<Node>),
    Nor(Vec<Node>),
    Not(Box<Node>),
    /// A constant: `$or` with a non-array argument passes, `$nor` with one fails, as in JS.
    Const(bool),
    Field {
        path: Vec<String>,
        test: Test,
    },
    /// `{"$savedGroup": {"id": …, "attributeKey": …}}`; `None` when the reference is malformed.
    SavedGroup(Option<(String, Option<String>)>),
}

#[derive(Debug, Clone)]
#[doc(hidden)]
pub enum Test {
    /// `value + "" === s`
    Str(String),
    /// `value * 1 === n`
    Num(f64),
    /// `value !== null && !!value === b`
    Bool(bool),
    /// `value === null`
    Null,
    /// `JSON.stringify(value) === JSON.stringify(expected)`
    Json(String),
    /// Every operator must pass.
    Ops(Vec<Op>),
}

impl Test {
    /// Tests an attribute value found by [`Condition::lookup`].
    pub fn eval(&self, value: &Value, groups: &SavedGroups) -> bool {
        let env = Env {
            groups,
            visited: Vec::new(),
        };
        eval_test(self, value, &env, false)
    }
}

#[derive(Debug, Clone)]
#[doc(hidden)]
pub enum Op {
    Version(VCmp, String),
    Eq(Value),
    Ne(Value),
    Lt(Value),
    Lte(Value),
    Gt(Value),
    Gte(Value),
    Exists(bool),
    In(Vec<Value>, bool),
    Nin(Vec<Value>, bool),
    InGroup(String),
    NotInGroup(String),
    Not(Box<Test>),
    Size(Box<Test>),
    ElemMatch(ElemMatch),
    All(Vec<Test>, bool),
    Regex(Option<regex_lite::Regex>),
    Type(String),
    /// An operator with an argument of the wrong shape, or an unknown operator: never passes.
    Never,
}

#[derive(Debug, Clone, Copy)]
#[doc(hidden)]
pub enum VCmp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone)]
#[doc(hidden)]
pub enum ElemMatch {
    Value(Box<Test>),
    Object(Box<Node>),
}

fn is_operator_object(m: &Map<String, Value>) -> bool {
    !m.is_empty() && m.keys().all(|k| k.starts_with('$'))
}

impl Condition {
    /// Compiles a condition. `{}` or `null` (no condition) always passes.
    pub fn compile(value: &Value) -> Self {
        Self {
            root: compile_object(value),
        }
    }

    /// Strict validation for rule saving: unknown operators, wrong argument shapes and invalid
    /// regular expressions are errors, with the path where they are.
    pub fn validate(value: &Value) -> Result<(), ConditionError> {
        match value {
            Value::Null => Ok(()),
            Value::Object(m) => validate_object(m, ""),
            _ => Err(err("", "a condition must be a JSON object")),
        }
    }

    /// Evaluates against attributes (a JSON object) and saved groups.
    pub fn eval(&self, attributes: &Value, groups: &SavedGroups) -> bool {
        eval_node(
            &self.root,
            attributes,
            &Env {
                groups,
                visited: Vec::new(),
            },
        )
    }

    /// If this condition is a single entry on one attribute (`{"device": "mobile"}`), its
    /// path and test: a caller evaluating many conditions can look each path up once.
    pub fn as_field(&self) -> Option<(&[String], &Test)> {
        match &self.root {
            Node::All(entries) => match entries.as_slice() {
                [Node::Field { path, test }] => Some((path, test)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The top-level attributes this condition can read (`utm` for `utm.source`), or `None`
    /// when that is not known before evaluating (a saved group's condition lives in the
    /// groups, not here).
    pub fn reads(&self) -> Option<BTreeSet<String>> {
        fn walk(node: &Node, out: &mut BTreeSet<String>) -> bool {
            match node {
                Node::All(items) | Node::Or(items) | Node::Nor(items) => {
                    items.iter().all(|n| walk(n, out))
                }
                Node::Not(inner) => walk(inner, out),
                Node::Const(_) => true,
                // `$elemMatch` paths inside `test` are relative to the array's elements.
                Node::Field { path, .. } => {
                    out.extend(path.first().cloned());
                    true
                }
                Node::SavedGroup(_) => false,
            }
        }
        let mut out = BTreeSet::new();
        walk(&self.root, &mut out).then_some(out)
    }

    /// The value at `path` in `attributes`, as conditions see it (missing is null).
    pub fn lookup<'a>(attributes: &'a Value, path: &[String]) -> std::borrow::Cow<'a, Value> {
        get_path(attributes, path)
    }

    /// The top-level entries that fail, by key, for explain traces.
    pub fn failing_keys(&self, attributes: &Value, groups: &SavedGroups) -> Vec<String> {
        let Node::All(entries) = &self.root else {
            return vec![];
        };
        let env = Env {
            groups,
            visited: Vec::new(),
        };
        entries
            .iter()
            .filter(|n| !eval_node(n, attributes, &env))
            .map(|n| match n {
                Node::Field { path, .. } => path.join("."),
                Node::Or(_) => "$or".into(),
                Node::Nor(_) => "$nor".into(),
                Node::Not(_) => "$not".into(),
                Node::All(_) => "$and".into(),
                Node::Const(_) => "$or".into(),
                Node::SavedGroup(_) => "$savedGroup".into(),
            })
            .collect()
    }
}

/// A condition is evaluated over `Object.entries` of whatever it is, as the reference SDK
/// does: an object's entries, an array's items under "0", "1", …, a string's characters the
/// same way, and nothing for a number or a boolean.
fn compile_object(value: &Value) -> Node {
    Node::All(
        js::entries(value)
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                // `!conditions.length` passes an empty or length-less list; `$nor` negates it.
                "$or" => compile_list(&v).map_or(Node::Const(true), |l| {
                    if l.is_empty() {
                        Node::Const(true)
                    } else {
                        Node::Or(l)
                    }
                }),
                "$nor" => compile_list(&v).map_or(Node::Const(false), |l| {
                    if l.is_empty() {
                        Node::Const(false)
                    } else {
                        Node::Nor(l)
                    }
                }),
                "$and" => Node::All(compile_list(&v).unwrap_or_default()),
                "$not" => Node::Not(Box::new(compile_object(&v))),
                "$savedGroup" => Node::SavedGroup(saved_group_ref(&v)),
                path => Node::Field {
                    path: path.split('.').map(str::to_string).collect(),
                    test: compile_test(&v),
                },
            })
            .collect(),
    )
}

fn saved_group_ref(v: &Value) -> Option<(String, Option<String>)> {
    let m = v.as_object()?;
    let id = m.get("id")?.as_str()?.to_string();
    let key = match m.get("attributeKey") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return None,
    };
    Some((id, key))
}

/// The conditions of `$and`, `$or` and `$nor`: the reference SDK indexes whatever it is given
/// up to its `length`, so an array gives its items and a string its characters; anything
/// else has no length (`None`).
fn compile_list(v: &Value) -> Option<Vec<Node>> {
    match v {
        Value::Array(items) => Some(items.iter().map(compile_object).collect()),
        Value::String(_) => Some(
            js::entries(v)
                .into_iter()
                .map(|(_, c)| compile_object(&c))
                .collect(),
        ),
        _ => None,
    }
}

fn compile_test(expected: &Value) -> Test {
    match expected {
        Value::String(s) => Test::Str(s.clone()),
        Value::Number(n) => Test::Num(n.as_f64().unwrap_or(f64::NAN)),
        Value::Bool(b) => Test::Bool(*b),
        Value::Null => Test::Null,
        Value::Object(m) if is_operator_object(m) => {
            Test::Ops(m.iter().map(|(op, arg)| compile_op(op, arg)).collect())
        }
        other => Test::Json(js::stringify(other)),
    }
}

fn values(arg: &Value) -> Option<Vec<Value>> {
    arg.as_array().cloned()
}

fn compile_op(op: &str, arg: &Value) -> Op {
    let version = |c| Op::Version(c, version::padded(arg));
    match op {
        "$veq" => version(VCmp::Eq),
        "$vne" => version(VCmp::Ne),
        "$vgt" => version(VCmp::Gt),
        "$vgte" => version(VCmp::Gte),
        "$vlt" => version(VCmp::Lt),
        "$vlte" => version(VCmp::Lte),
        "$eq" => Op::Eq(arg.clone()),
        "$ne" => Op::Ne(arg.clone()),
        "$lt" => Op::Lt(arg.clone()),
        "$lte" => Op::Lte(arg.clone()),
        "$gt" => Op::Gt(arg.clone()),
        "$gte" => Op::Gte(arg.clone()),
        "$exists" => Op::Exists(js::truthy(arg)),
        "$in" => values(arg).map_or(Op::Never, |v| Op::In(v, false)),
        "$ini" => values(arg).map_or(Op::Never, |v| Op::In(v, true)),
        "$nin" => values(arg).map_or(Op::Never, |v| Op::Nin(v, false)),
        "$nini" => values(arg).map_or(Op::Never, |v| Op::Nin(v, true)),
        "$inGroup" => Op::InGroup(js::to_string(arg)),
        "$notInGroup" => Op::NotInGroup(js::to_string(arg)),
        "$not" => Op::Not(Box::new(compile_test(arg))),
        "$size" => Op::Size(Box::new(compile_test(arg))),
        "$elemMatch" => Op::ElemMatch(match arg {
            Value::Object(m) if is_operator_object(m) => {
                ElemMatch::Value(Box::new(compile_test(arg)))
            }
            _ => ElemMatch::Object(Box::new(compile_object(arg))),
        }),
        "$all" => arg.as_array().map_or(Op::Never, |v| {
            Op::All(v.iter().map(compile_test).collect(), false)
        }),
        "$alli" => arg.as_array().map_or(Op::Never, |v| {
            Op::All(v.iter().map(compile_test).collect(), true)
        }),
        // A pattern that is not a string throws in the reference SDK, which answers false.
        "$regex" => arg
            .as_str()
            .map_or(Op::Never, |p| Op::Regex(compile_regex(p, false))),
        "$regexi" => arg
            .as_str()
            .map_or(Op::Never, |p| Op::Regex(compile_regex(p, true))),
        // Compared with `===`: only a string can name a type.
        "$type" => arg.as_str().map_or(Op::Never, |t| Op::Type(t.to_string())),
        _ => Op::Never,
    }
}

fn compile_regex(pattern: &str, insensitive: bool) -> Option<regex_lite::Regex> {
    regex_lite::RegexBuilder::new(pattern)
        .case_insensitive(insensitive)
        .build()
        .ok()
}

/// `getPath`: walks objects (and arrays by index, as JS `in` does); anything missing is null.
fn get_path<'a>(obj: &'a Value, path: &[String]) -> std::borrow::Cow<'a, Value> {
    let mut cur = obj;
    for part in path {
        match cur {
            Value::Object(m) => match m.get(part) {
                Some(v) => cur = v,
                None => return std::borrow::Cow::Owned(Value::Null),
            },
            Value::Array(items) => {
                if part == "length" {
                    return std::borrow::Cow::Owned(Value::from(items.len()));
                }
                match part
                    .parse::<usize>()
                    .ok()
                    .filter(|i| i.to_string() == *part)
                    .and_then(|i| items.get(i))
                {
                    Some(v) => cur = v,
                    None => return std::borrow::Cow::Owned(Value::Null),
                }
            }
            _ => return std::borrow::Cow::Owned(Value::Null),
        }
    }
    std::borrow::Cow::Borrowed(cur)
}

fn eval_node(node: &Node, obj: &Value, env: &Env<'_>) -> bool {
    match node {
        Node::All(items) => items.iter().all(|n| eval_node(n, obj, env)),
        Node::Or(items) => items.iter().any(|n| eval_node(n, obj, env)),
        Node::Nor(items) => !items.iter().any(|n| eval_node(n, obj, env)),
        Node::Not(inner) => !eval_node(inner, obj, env),
        Node::Const(b) => *b,
        Node::Field { path, test } => eval_test(test, &get_path(obj, path), env, false),
        Node::SavedGroup(reference) => eval_saved_group(reference.as_ref(), obj, env),
    }
}

fn eval_saved_group(
    reference: Option<&(String, Option<String>)>,
    obj: &Value,
    env: &Env<'_>,
) -> bool {
    let Some((id, key)) = reference else {
        return false;
    };
    if env.visited.iter().any(|v| v == id) {
        return false;
    }
    let Some((stored_id, Value::Object(entry))) = env.groups.entries.get_key_value(id.as_str())
    else {
        return false;
    };
    match entry.get("type").and_then(Value::as_str) {
        Some("list") => {
            let key = key
                .as_deref()
                .or_else(|| entry.get("attributeKey").and_then(Value::as_str));
            match (key, entry.get("values").and_then(Value::as_array)) {
                (Some(key), Some(values)) => {
                    let path: Vec<String> = key.split('.').map(str::to_string).collect();
                    is_in(&get_path(obj, &path), values, false)
                }
                _ => false,
            }
        }
        Some("condition") => match env.groups.conditions.get(id.as_str()) {
            Some(node) => {
                let mut visited = env.visited.clone();
                visited.push(stored_id.as_str());
                eval_node(
                    node,
                    obj,
                    &Env {
                        groups: env.groups,
                        visited,
                    },
                )
            }
            None => false,
        },
        _ => false,
    }
}

fn eval_test(test: &Test, value: &Value, env: &Env<'_>, insensitive: bool) -> bool {
    match test {
        Test::Str(s) if insensitive => js::to_string(value).to_lowercase() == s.to_lowercase(),
        Test::Str(s) => match value {
            Value::String(v) => v == s,
            other => js::to_string(other) == *s,
        },
        Test::Num(n) => js::to_number(value) == *n,
        Test::Bool(b) => !value.is_null() && js::truthy(value) == *b,
        Test::Null => value.is_null(),
        Test::Json(s) => js::stringify(value) == *s,
        Test::Ops(ops) => ops.iter().all(|op| eval_op(op, value, env)),
    }
}

fn fold(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.to_lowercase()),
        other => other.clone(),
    }
}

fn is_in(actual: &Value, expected: &[Value], insensitive: bool) -> bool {
    let eq = |a: &Value, b: &Value| {
        if insensitive {
            js::strict_eq(&fold(a), &fold(b))
        } else {
            js::strict_eq(a, b)
        }
    };
    match actual {
        Value::Array(items) => items.iter().any(|el| expected.iter().any(|e| eq(el, e))),
        other => expected.iter().any(|e| eq(other, e)),
    }
}

fn eval_op(op: &Op, actual: &Value, env: &Env<'_>) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Version(c, expected) => {
            let ord = version::cmp_to_padded(actual, expected);
            match c {
                VCmp::Eq => ord == Equal,
                VCmp::Ne => ord != Equal,
                VCmp::Gt => ord == Greater,
                VCmp::Gte => ord != Less,
                VCmp::Lt => ord == Less,
                VCmp::Lte => ord != Greater,
            }
        }
        Op::Eq(e) => js::strict_eq(actual, e),
        Op::Ne(e) => !js::strict_eq(actual, e),
        Op::Lt(e) => js::compare(actual, e) == Some(Less),
        Op::Lte(e) => matches!(js::compare(actual, e), Some(Less | Equal)),
        Op::Gt(e) => js::compare(actual, e) == Some(Greater),
        Op::Gte(e) => matches!(js::compare(actual, e), Some(Greater | Equal)),
        Op::Exists(want) => actual.is_null() != *want,
        Op::In(list, ci) => is_in(actual, list, *ci),
        Op::Nin(list, ci) => !is_in(actual, list, *ci),
        Op::InGroup(g) => env
            .groups
            .list_values(g)
            .is_some_and(|v| is_in(actual, v, false)),
        Op::NotInGroup(g) => env
            .groups
            .list_values(g)
            .is_some_and(|v| !is_in(actual, v, false)),
        Op::Not(t) => !eval_test(t, actual, env, false),
        Op::Size(t) => match actual {
            Value::Array(items) => eval_test(t, &Value::from(items.len()), env, false),
            _ => false,
        },
        // Only null elements are skipped; 0, "" and false are tested like any value.
        Op::ElemMatch(m) => match actual {
            Value::Array(items) => items.iter().filter(|i| !i.is_null()).any(|i| match m {
                ElemMatch::Value(t) => eval_test(t, i, env, false),
                ElemMatch::Object(n) => eval_node(n, i, env),
            }),
            _ => false,
        },
        Op::All(tests, ci) => match actual {
            Value::Array(items) => tests
                .iter()
                .all(|t| items.iter().any(|i| eval_test(t, i, env, *ci))),
            _ => false,
        },
        Op::Regex(re) => re.as_ref().is_some_and(|re| match actual {
            Value::String(s) => re.is_match(s),
            other => re.is_match(&js::to_string(other)),
        }),
        Op::Type(t) => js::type_name(actual) == t,
        Op::Never => false,
    }
}

const KNOWN_OPS: &[&str] = &[
    "$veq",
    "$vne",
    "$vgt",
    "$vgte",
    "$vlt",
    "$vlte",
    "$eq",
    "$ne",
    "$lt",
    "$lte",
    "$gt",
    "$gte",
    "$exists",
    "$in",
    "$ini",
    "$nin",
    "$nini",
    "$inGroup",
    "$notInGroup",
    "$not",
    "$size",
    "$elemMatch",
    "$all",
    "$alli",
    "$regex",
    "$regexi",
    "$type",
];

fn err(path: &str, message: impl Into<String>) -> ConditionError {
    ConditionError {
        path: if path.is_empty() {
            "(root)".into()
        } else {
            path.to_string()
        },
        message: message.into(),
    }
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

fn validate_object(m: &Map<String, Value>, base: &str) -> Result<(), ConditionError> {
    for (k, v) in m {
        let here = join(base, k);
        match k.as_str() {
            "$or" | "$nor" | "$and" => {
                let list = v.as_array().ok_or_else(|| err(&here, "expects an array of conditions"))?;
                for (i, c) in list.iter().enumerate() {
                    let at = format!("{here}[{i}]");
                    c.as_object().ok_or_else(|| err(&at, "expects a condition object")).and_then(|m| validate_object(m, &at))?;
                }
            }
            "$not" => v.as_object().ok_or_else(|| err(&here, "expects a condition object")).and_then(|m| validate_object(m, &here))?,
            "$savedGroup" => {
                saved_group_ref(v).ok_or_else(|| err(&here, "expects {\"id\": \"group id\", \"attributeKey\"?: \"attribute\"}"))?;
            }
            key if key.starts_with('$') && key != "$groups" => {
                return Err(err(&here, format!("`{key}` is not a logical operator here; use $and, $or, $nor or $not, or a field name")))
            }
            _ => validate_value(v, &here)?,
        }
    }
    Ok(())
}

fn validate_value(v: &Value, path: &str) -> Result<(), ConditionError> {
    let Value::Object(m) = v else { return Ok(()) };
    if !is_operator_object(m) {
        if m.keys().any(|k| k.starts_with('$')) {
            return Err(err(path, "mixes operators and plain keys; split them"));
        }
        return Ok(());
    }
    for (op, arg) in m {
        let here = join(path, op);
        if !KNOWN_OPS.contains(&op.as_str()) {
            return Err(err(&here, format!("unknown operator `{op}`")));
        }
        match op.as_str() {
            "$in" | "$ini" | "$nin" | "$nini" | "$all" | "$alli" if !arg.is_array() => {
                return Err(err(&here, "expects an array"))
            }
            "$inGroup" | "$notInGroup" | "$type" if !arg.is_string() => {
                return Err(err(&here, "expects a string"))
            }
            "$type"
                if ![
                    "string",
                    "number",
                    "boolean",
                    "object",
                    "array",
                    "null",
                    "undefined",
                ]
                .contains(&arg.as_str().unwrap_or("")) =>
            {
                return Err(err(
                    &here,
                    "expects one of string, number, boolean, object, array, null",
                ))
            }
            "$regex" | "$regexi" => {
                let pattern = arg.as_str().ok_or_else(|| err(&here, "expects a string"))?;
                regex_lite::Regex::new(pattern)
                    .map_err(|e| err(&here, format!("invalid regular expression: {e}")))?;
            }
            "$not" | "$size" => validate_value(arg, &here)?,
            "$elemMatch" => match arg {
                Value::Object(inner) if is_operator_object(inner) => validate_value(arg, &here)?,
                Value::Object(inner) => validate_object(inner, &here)?,
                _ => return Err(err(&here, "expects an object")),
            },
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn passes(condition: Value, attributes: Value) -> bool {
        Condition::compile(&condition).eval(&attributes, &SavedGroups::default())
    }

    /// Shapes where the reference SDK iterates or compares strictly, and Cortex once did not.
    #[test]
    fn odd_shapes_evaluate_as_the_reference_sdk_does() {
        let attrs = json!({"s": "x", "n": null});
        assert!(
            !passes(json!({"$nor": []}), attrs.clone()),
            "an empty $nor fails"
        );
        assert!(
            passes(json!({"$or": []}), attrs.clone()),
            "an empty $or passes"
        );
        // A string where a list of conditions goes: each character is a condition on "0".
        assert!(!passes(json!({"$and": ["x"]}), attrs.clone()));
        assert!(passes(json!({"$and": ["x"]}), json!({"0": "x"})));
        assert!(passes(json!({"$nor": "ab"}), attrs.clone()));
        assert!(!passes(json!({"$or": "ab"}), attrs.clone()));
        assert!(
            passes(json!({"$or": 5}), attrs.clone()),
            "no length: passes"
        );
        assert!(!passes(json!({"$nor": {}}), attrs.clone()));
        assert!(passes(json!({"$not": "a"}), attrs.clone()));
        // `$type` and `$regex` take strings only.
        assert!(!passes(json!({"n": {"$type": null}}), attrs.clone()));
        assert!(!passes(json!({"s": {"$type": ["string"]}}), attrs.clone()));
        assert!(passes(json!({"s": {"$type": "string"}}), attrs.clone()));
        assert!(!passes(json!({"n": {"$regex": null}}), attrs.clone()));
        assert!(!passes(json!({"n": {"$regex": 5}}), json!({"n": 5})));
        assert!(passes(json!({"n": {"$regex": "5"}}), json!({"n": 5})));
    }

    #[test]
    fn validation_names_the_path_of_the_error() {
        let e =
            Condition::validate(&json!({"$and": [{"age": {"$gt": 1}}, {"name": {"$regx": "a"}}]}))
                .unwrap_err();
        assert_eq!(e.path, "$and[1].name.$regx");
        let e = Condition::validate(&json!({"ua": {"$regex": "(unclosed"}})).unwrap_err();
        assert_eq!(e.path, "ua.$regex");
        assert!(Condition::validate(&json!({"tags": {"$in": "a"}}))
            .unwrap_err()
            .message
            .contains("array"));
        assert!(Condition::validate(
            &json!({"$or": [{"a": 1}, {"b": {"$elemMatch": {"c": {"$gt": 2}}}}]})
        )
        .is_ok());
        assert!(Condition::validate(&json!(null)).is_ok());
        assert!(Condition::validate(&json!([1])).is_err());
    }

    #[test]
    fn failing_keys_explain_what_did_not_match() {
        let c = Condition::compile(
            &json!({"country": "US", "age": {"$gte": 18}, "$or": [{"vip": true}]}),
        );
        let attrs = json!({"country": "DE", "age": 20});
        assert_eq!(
            c.failing_keys(&attrs, &SavedGroups::default()),
            ["$or", "country"]
        );
    }

    #[test]
    fn reads_names_every_top_level_attribute_a_condition_can_look_at() {
        let c = Condition::compile(&json!({
            "$or": [{"persona": "x"}, {"utm.source": "news"}],
            "$nor": [{"$and": [{"tier": {"$gte": 1}}]}],
            "$not": {"hour": 3},
            "tags": {"$elemMatch": {"kind": "a"}}
        }));
        let names: Vec<String> = c.reads().unwrap().into_iter().collect();
        assert_eq!(names, ["hour", "persona", "tags", "tier", "utm"]);
        assert_eq!(Condition::compile(&json!({})).reads().unwrap().len(), 0);
        // A saved group's condition is known only when evaluated: everything may be read.
        let grouped = Condition::compile(&json!({"$or": [{"$savedGroup": {"id": "g"}}]}));
        assert!(grouped.reads().is_none());
    }
}
