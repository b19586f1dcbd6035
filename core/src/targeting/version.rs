//! Version strings made comparable as plain strings, as GrowthBook's `paddedVersionString`
//! does: `v` prefix and `+build` dropped, numeric parts left-padded to 5, a release without
//! a pre-release tag sorts after its pre-releases (`~`).

use super::js;
use serde_json::Value;

/// The comparable form of a version value (numbers are read as strings; anything else is "0").
pub fn padded(v: &Value) -> String {
    let s = match v {
        Value::Number(_) => js::to_string(v),
        Value::String(s) if !s.is_empty() => s.clone(),
        _ => "0".to_string(),
    };
    padded_str(&s)
}

/// [`padded`] for a string.
pub fn padded_str(s: &str) -> String {
    let s = s.strip_prefix('v').unwrap_or(s);
    let s = s.split_once('+').map_or(s, |(core, _build)| core);
    let mut parts: Vec<&str> = s.split(['-', '.']).collect();
    if parts.len() == 3 {
        parts.push("~");
    }
    parts
        .iter()
        .map(|p| {
            if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                format!("{p:>5}")
            } else {
                (*p).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Compares a value's padded version with an already padded one, as JavaScript compares the
/// two strings. ASCII versions (nearly all) are padded into a stack buffer without allocating.
pub fn cmp_to_padded(actual: &Value, expected_padded: &str) -> std::cmp::Ordering {
    let owned;
    let s: &str = match actual {
        Value::Number(_) => {
            owned = js::to_string(actual);
            &owned
        }
        Value::String(s) if !s.is_empty() => s,
        _ => "0",
    };
    let mut buf = [0u8; 128];
    match (s.is_ascii() && expected_padded.is_ascii())
        .then(|| padded_into(s, &mut buf))
        .flatten()
    {
        Some(n) => buf[..n].cmp(expected_padded.as_bytes()),
        None => js::cmp_utf16(&padded_str(s), expected_padded),
    }
}

/// Writes [`padded_str`] of an ASCII string into `buf`; `None` if it does not fit.
fn padded_into(s: &str, buf: &mut [u8]) -> Option<usize> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let s = s.split_once('+').map_or(s, |(core, _build)| core);
    let parts = s.split(['-', '.']).count();
    let mut n = 0;
    let mut push = |bytes: &[u8], n: &mut usize| -> Option<()> {
        let end = *n + bytes.len();
        buf.get_mut(*n..end)?.copy_from_slice(bytes);
        *n = end;
        Some(())
    };
    for (i, part) in s.split(['-', '.']).enumerate() {
        if i > 0 {
            push(b"-", &mut n)?;
        }
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) && part.len() < 5 {
            push(&b"     "[..5 - part.len()], &mut n)?;
        }
        push(part.as_bytes(), &mut n)?;
    }
    if parts == 3 {
        push(b"-~", &mut n)?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lt(a: &str, b: &str) -> bool {
        js::cmp_utf16(&padded_str(a), &padded_str(b)).is_lt()
    }

    #[test]
    fn semver_ordering() {
        assert!(lt("0.9.99", "1.0.0"));
        assert!(lt("1.0.0-alpha", "1.0.0-alpha.1"));
        assert!(lt("1.0.0-beta.2", "1.0.0-beta.11"));
        assert!(lt("1.0.0-rc.1", "1.0.0"));
        assert!(lt("9.0.0", "10.0.0"));
        assert!(!lt("1.2.3", "v1.2.3") && !lt("v1.2.3", "1.2.3"));
        assert_eq!(padded_str("1.2.3+build.7"), padded_str("1.2.3"));
        assert_eq!(padded_str("1-2-3"), padded_str("1.2.3"));
        assert_eq!(padded(&serde_json::json!(null)), "    0");
    }

    #[test]
    fn the_stack_path_agrees_with_the_string_path() {
        for v in [
            "1.2.3",
            "v10.0.0-rc.1+b7",
            "1-2-3",
            "a.b.c.d",
            "1.2.3.4",
            "123456.1.0",
            "",
            "2",
            "1..2",
            "1.0.0-",
        ] {
            for w in ["1.2.3", "10.0.0", "1.0.0-alpha", "0"] {
                let value = Value::String(v.into());
                let want = js::cmp_utf16(&padded(&value), &padded_str(w));
                assert_eq!(cmp_to_padded(&value, &padded_str(w)), want, "{v} vs {w}");
            }
        }
        assert_eq!(
            cmp_to_padded(&serde_json::json!(9), &padded_str("10.0.0")),
            std::cmp::Ordering::Less
        );
    }
}
