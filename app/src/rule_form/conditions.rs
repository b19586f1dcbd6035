//! Conditions in the rule form: rows of (attribute, operator, value) and a raw JSON part,
//! combined into one condition object, and back.

use super::*;

/// A condition row as a (key, condition) pair; `None` for an empty row.
pub(super) fn condition_pair(
    n: usize,
    row: &ConditionRow<'_>,
) -> Result<Option<(String, Value)>, String> {
    let (attr, value) = (row.attr.trim(), row.value.trim());
    let op = given(row.op).unwrap_or("is");
    if attr.is_empty() {
        if value.is_empty() {
            return Ok(None);
        }
        return Err(format!("c{n}_attr: name the attribute this row tests"));
    }
    let needs_value = !matches!(op, "exists" | "missing");
    if needs_value && value.is_empty() {
        return Err(format!(
            "c{n}_value: give the value `{attr}` is compared with"
        ));
    }
    let list = || {
        Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(scalar)
                .collect(),
        )
    };
    let condition = match op {
        "is" => scalar(value),
        "isNot" => json!({"$ne": scalar(value)}),
        "in" => json!({"$in": list()}),
        "notIn" => json!({"$nin": list()}),
        "gt" | "gte" | "lt" | "lte" => json!({format!("${op}"): scalar(value)}),
        "matches" => json!({"$regex": value}),
        "exists" => json!({"$exists": true}),
        "missing" => json!({"$exists": false}),
        other => {
            return Err(format!(
                "c{n}_op: `{other}` is not an operator ({})",
                OPERATORS.iter().map(|o| o.0).collect::<Vec<_>>().join(", ")
            ))
        }
    };
    cortex_core::targeting::Condition::validate(&json!({attr: condition}))
        .map_err(|e| format!("c{n}_value: {e}"))?;
    Ok(Some((attr.to_string(), condition)))
}

/// Rows and raw pairs as one condition: an object when every key differs, `$and` otherwise.
pub(super) fn combine(pairs: Vec<(String, Value)>) -> Value {
    let mut seen = std::collections::HashSet::new();
    if pairs.iter().all(|(k, _)| seen.insert(k.clone())) {
        Value::Object(pairs.into_iter().collect())
    } else {
        json!({"$and": pairs.into_iter().map(|(k, v)| json!({k: v})).collect::<Vec<_>>()})
    }
}

pub(super) fn conditions(f: &RuleForm) -> Result<Value, String> {
    let mut pairs = Vec::new();
    for i in 0..CONDITION_ROWS {
        if let Some(p) = condition_pair(i + 1, &f.condition(i))? {
            pairs.push(p);
        }
    }
    if let Some(text) = given(&f.conditions) {
        pairs.extend(object("conditions", text)?);
    }
    Ok(combine(pairs))
}

/// A condition as a row, if a row shows it exactly.
pub(super) fn condition_row(key: &str, condition: &Value) -> Option<(String, String)> {
    if key.starts_with('$') {
        return None;
    }
    let row: (String, String) = match condition {
        Value::Object(o) if o.len() == 1 => {
            let (op, v) = o.iter().next()?;
            match (op.as_str(), v) {
                ("$ne", v) => ("isNot".into(), scalar_text(v)?),
                ("$in" | "$nin", Value::Array(items)) => (
                    if op == "$in" { "in" } else { "notIn" }.into(),
                    items
                        .iter()
                        .map(scalar_text)
                        .collect::<Option<Vec<_>>>()?
                        .join(", "),
                ),
                ("$gt" | "$gte" | "$lt" | "$lte", v) => (op[1..].into(), scalar_text(v)?),
                ("$regex", Value::String(r)) => ("matches".into(), r.clone()),
                ("$exists", Value::Bool(b)) => {
                    (if *b { "exists" } else { "missing" }.into(), String::new())
                }
                _ => return None,
            }
        }
        v => ("is".into(), scalar_text(v)?),
    };
    let rebuilt = condition_pair(
        1,
        &ConditionRow {
            attr: key,
            op: &row.0,
            value: &row.1,
        },
    )
    .ok()
    .flatten()?;
    (rebuilt.1 == *condition).then_some(row)
}

pub(super) fn fill_conditions(form: &mut RuleForm, conditions: &Value) {
    let pairs: Vec<(String, Value)> = match conditions {
        Value::Object(o) => match o.get("$and") {
            Some(Value::Array(items))
                if o.len() == 1
                    && items
                        .iter()
                        .all(|i| i.as_object().is_some_and(|m| m.len() == 1)) =>
            {
                items
                    .iter()
                    .filter_map(|i| i.as_object()?.iter().next())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }
            _ => o.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        },
        _ => return,
    };
    let mut rows = 0;
    let mut raw = Map::new();
    for (key, condition) in pairs {
        match condition_row(&key, &condition).filter(|_| rows < CONDITION_ROWS) {
            Some((op, value)) => {
                let [a, o, v] = form.condition_mut(rows);
                (*a, *o, *v) = (key, op, value);
                rows += 1;
            }
            None => {
                raw.insert(key, condition);
            }
        }
    }
    if !raw.is_empty() {
        form.conditions = compact(&raw);
    }
}
