//! What an audit entry changed, field by field, for people to read: `role: "viewer" →
//! "editor"` rather than two JSON documents side by side.

use serde_json::Value;

/// Longest value shown; a longer one is cut with `…`.
const MAX_SHOWN: usize = 160;
/// Most changed fields listed for one entry; the rest are counted.
pub const MAX_CHANGES: usize = 12;

/// One changed field: its path (`rule.priority`, `keys[2]`; empty for the whole value) and
/// its value before and after, as compact JSON (`None`: it was not there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The fields that differ between `before` and `after` (`null` means nothing), objects
/// walked key by key, anything else compared whole; at most [`MAX_CHANGES`], and how many
/// more there were.
pub fn field_changes(before: &Value, after: &Value) -> (Vec<FieldChange>, usize) {
    let mut out = Vec::new();
    walk("", before, after, &mut out);
    let more = out.len().saturating_sub(MAX_CHANGES);
    out.truncate(MAX_CHANGES);
    (out, more)
}

fn walk(path: &str, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    if before == after {
        return;
    }
    // Something made or removed: list its fields (a new user's name, role ...).
    let empty = Value::Object(Default::default());
    let (before, after) = match (before, after) {
        (Value::Null, Value::Object(_)) => (&empty, after),
        (Value::Object(_), Value::Null) => (before, &empty),
        _ => (before, after),
    };
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(
                    &child,
                    b.get(k).unwrap_or(&Value::Null),
                    a.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ => out.push(FieldChange {
            path: path.to_string(),
            before: shown(before),
            after: shown(after),
        }),
    }
}

fn shown(v: &Value) -> Option<String> {
    if v.is_null() {
        return None;
    }
    let text = v.to_string();
    Some(match text.char_indices().nth(MAX_SHOWN) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_changed_fields_are_listed_with_their_paths() {
        let (c, more) = field_changes(
            &json!({"role": "viewer", "name": "a", "keys": [1]}),
            &json!({"role": "editor", "name": "a", "keys": [1, 2], "new": true}),
        );
        assert_eq!(more, 0);
        let shown: Vec<_> = c
            .iter()
            .map(|c| format!("{} {:?} {:?}", c.path, c.before, c.after))
            .collect();
        assert_eq!(
            shown,
            [
                r#"keys Some("[1]") Some("[1,2]")"#,
                r#"new None Some("true")"#,
                r#"role Some("\"viewer\"") Some("\"editor\"")"#,
            ]
        );
        let (c, _) = field_changes(&Value::Null, &json!("x"));
        assert_eq!(c[0].path, "");
        assert_eq!(c[0].before, None);
        let (c, _) = field_changes(&Value::Null, &json!({"name": "ci", "role": "viewer"}));
        assert_eq!(c.len(), 2, "a new thing lists its fields: {c:?}");
        assert_eq!(c[1].after.as_deref(), Some("\"viewer\""));
    }

    #[test]
    fn long_values_and_many_fields_are_cut() {
        let long = "x".repeat(1000);
        let (c, _) = field_changes(&json!({"a": long}), &json!({}));
        assert!(c[0].before.as_ref().unwrap().ends_with('…'));
        assert!(c[0].before.as_ref().unwrap().chars().count() <= MAX_SHOWN + 1);
        let many: serde_json::Map<String, Value> =
            (0..20).map(|i| (format!("k{i:02}"), json!(i))).collect();
        let (c, more) = field_changes(&json!({}), &Value::Object(many));
        assert_eq!((c.len(), more), (MAX_CHANGES, 8));
    }
}
