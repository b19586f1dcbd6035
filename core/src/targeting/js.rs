//! The JavaScript value semantics GrowthBook's reference SDK relies on (`+ ""`, `* 1`, `<`,
//! `===`, truthiness, `typeof`, `JSON.stringify`), applied to JSON values, so conditions
//! evaluate exactly as they do in the JavaScript SDK.

use serde_json::Value;
use std::cmp::Ordering;

/// `String(v)` / `v + ""`.
pub fn to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_to_string(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        // Array.prototype.toString: elements joined by ",", null/undefined as "".
        Value::Array(items) => items
            .iter()
            .map(|i| {
                if i.is_null() {
                    String::new()
                } else {
                    to_string(i)
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// `Number.prototype.toString()` for the values JSON can carry.
pub fn number_to_string(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if n == 0.0 {
        return "0".into();
    }
    let abs = n.abs();
    // JavaScript writes plain decimals from 1e-6 up to 1e21, exponents outside.
    if (1e-6..1e21).contains(&abs) {
        if n.fract() == 0.0 && abs < 9.007_199_254_740_992e15 {
            return format!("{}", n as i64);
        }
        // Rust prints the shortest string that round-trips, as JavaScript does.
        return format!("{n}");
    }
    // Exponent form: JavaScript writes 1e+21, 1.5e-7.
    let s = format!("{n:e}");
    match s.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
        _ => s,
    }
}

/// `Number(v)` / `v * 1`.
pub fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => string_to_number(s),
        Value::Array(_) => string_to_number(&to_string(v)),
        Value::Object(_) => f64::NAN,
    }
}

/// JavaScript's white space and line terminators (what `trim` and `Number` strip): Rust's
/// `char::is_whitespace` without U+0085 (NEXT LINE), plus U+FEFF.
pub fn is_js_whitespace(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

/// `Number(string)`: trimmed; empty is 0; hex/octal/binary prefixes; `Infinity`; else NaN.
pub fn string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(is_js_whitespace);
    if t.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(digits) = t.strip_prefix(prefix) {
            return radix_to_number(digits, radix);
        }
    }
    match t {
        "Infinity" | "+Infinity" => return f64::INFINITY,
        "-Infinity" => return f64::NEG_INFINITY,
        _ => {}
    }
    // Rust accepts "inf", "nan" and "1_0"-free forms JavaScript does not; screen them out.
    let ok = t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !ok || !t.bytes().any(|b| b.is_ascii_digit()) {
        return f64::NAN;
    }
    t.parse::<f64>().unwrap_or(f64::NAN)
}

/// `Object.entries(v)`: an object's entries, an array's items under "0", "1", …, a string's
/// characters the same way (by UTF-16 code unit in JavaScript; a character outside the Basic
/// Multilingual Plane stays whole here), nothing for other values.
pub fn entries(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v.clone()))
            .collect(),
        Value::String(s) => s
            .chars()
            .enumerate()
            .map(|(i, c)| (i.to_string(), Value::String(c.to_string())))
            .collect(),
        _ => Vec::new(),
    }
}

/// The value of `digits` in base 2, 8 or 16, rounded to the nearest double (ties to even) as
/// JavaScript does, however many digits there are; NaN if there are none or one is not a
/// digit of the base.
fn radix_to_number(digits: &str, radix: u32) -> f64 {
    let bits_per_digit = radix.trailing_zeros();
    let mut bits: Vec<bool> = Vec::with_capacity(digits.len() * bits_per_digit as usize);
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else {
            return f64::NAN;
        };
        for b in (0..bits_per_digit).rev() {
            bits.push(d >> b & 1 == 1);
        }
    }
    if bits.is_empty() {
        return f64::NAN;
    }
    let Some(first) = bits.iter().position(|b| *b) else {
        return 0.0;
    };
    let significant = &bits[first..];
    if significant.len() <= 53 {
        return significant
            .iter()
            .fold(0u64, |acc, b| acc << 1 | u64::from(*b)) as f64;
    }
    // The top 53 bits, then round on the next bit and whatever follows it.
    let mut mantissa = significant[..53]
        .iter()
        .fold(0u64, |acc, b| acc << 1 | u64::from(*b));
    let round = significant[53];
    let sticky = significant[54..].iter().any(|b| *b);
    if round && (sticky || mantissa & 1 == 1) {
        mantissa += 1;
    }
    let exponent = (significant.len() - 53) as i32;
    // `mantissa` may have carried to 2^53: still exact as a double.
    (mantissa as f64) * 2f64.powi(exponent)
}

/// JavaScript truthiness.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// `a === b`: same type and value for primitives; never for arrays and objects (distinct references).
pub fn strict_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => x == y,
        _ => false,
    }
}

/// A primitive for relational comparison (`ToPrimitive` with hint number).
enum Prim<'a> {
    Str(std::borrow::Cow<'a, str>),
    Num(f64),
}

fn to_primitive(v: &Value) -> Prim<'_> {
    match v {
        Value::String(s) => Prim::Str(std::borrow::Cow::Borrowed(s)),
        Value::Array(_) | Value::Object(_) => Prim::Str(std::borrow::Cow::Owned(to_string(v))),
        other => Prim::Num(to_number(other)),
    }
}

/// The abstract relational comparison behind `<`, `<=`, `>`, `>=`: `None` when JavaScript
/// would answer false both ways (NaN involved).
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (to_primitive(a), to_primitive(b)) {
        (Prim::Str(x), Prim::Str(y)) => Some(cmp_utf16(&x, &y)),
        (x, y) => {
            let num = |p: Prim<'_>| match p {
                Prim::Num(n) => n,
                Prim::Str(s) => string_to_number(&s),
            };
            num(x).partial_cmp(&num(y))
        }
    }
}

/// JavaScript compares strings by UTF-16 code units.
pub fn cmp_utf16(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// `typeof`, refined as GrowthBook's `$type` does: `null`, `array`, `string`, `number`, `boolean`, `object`.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `JSON.stringify(v)` (numbers as JavaScript writes them).
pub fn stringify(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.is_finite() {
                out.push_str(&number_to_string(f));
            } else {
                out.push_str("null");
            }
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_and_numbers_convert_as_in_javascript() {
        assert_eq!(to_string(&json!(null)), "null");
        assert_eq!(to_string(&json!(1.0)), "1");
        assert_eq!(to_string(&json!(0.1)), "0.1");
        assert_eq!(to_string(&json!(1e21)), "1e+21");
        assert_eq!(to_string(&json!([1, null, "a", [2, 3]])), "1,,a,2,3");
        assert_eq!(to_string(&json!({"a": 1})), "[object Object]");
        assert_eq!(to_number(&json!(null)), 0.0);
        assert_eq!(to_number(&json!(" 42 ")), 42.0);
        assert_eq!(to_number(&json!("")), 0.0);
        assert_eq!(to_number(&json!("0x1A")), 26.0);
        assert!(to_number(&json!("12px")).is_nan());
        assert!(to_number(&json!("inf")).is_nan());
        assert_eq!(to_number(&json!([5])), 5.0);
        assert_eq!(to_number(&json!([])), 0.0);
        assert!(to_number(&json!([1, 2])).is_nan());
        assert_eq!(to_number(&json!(true)), 1.0);
    }

    #[test]
    fn numbers_read_and_write_as_in_javascript_at_the_edges() {
        // Exponents below 1e-6 and from 1e21.
        assert_eq!(number_to_string(1e-6), "0.000001");
        assert_eq!(number_to_string(2.5e-6), "0.0000025");
        assert_eq!(number_to_string(1.5e-7), "1.5e-7");
        assert_eq!(number_to_string(1e-7), "1e-7");
        assert_eq!(number_to_string(1.5e21), "1.5e+21");
        // Hex beyond 64 bits is rounded to the nearest double, ties to even.
        assert_eq!(
            string_to_number("0xFFFFFFFFFFFFFFFFF"),
            295147905179352830000.0
        );
        assert_eq!(string_to_number("0x20000000000001"), 9007199254740992.0);
        assert_eq!(string_to_number("0x20000000000003"), 9007199254740996.0);
        assert_eq!(string_to_number("0x1fffffffffffff1"), 144115188075855860.0);
        assert_eq!(
            string_to_number(&format!("0x1{}", "0".repeat(300))),
            f64::INFINITY
        );
        assert!(string_to_number("-0x1A").is_nan());
        assert!(string_to_number("+0x1A").is_nan());
        assert!(string_to_number("0x").is_nan());
        // JavaScript's white space: U+FEFF is, U+0085 is not.
        assert_eq!(string_to_number("\u{feff}7"), 7.0);
        assert_eq!(string_to_number("\u{a0}8\u{2028}"), 8.0);
        assert!(string_to_number("\u{85}5").is_nan());
    }

    #[test]
    fn entries_are_those_object_entries_gives() {
        assert_eq!(
            entries(&json!("ab")),
            vec![("0".into(), json!("a")), ("1".into(), json!("b"))]
        );
        assert_eq!(entries(&json!([true])), vec![("0".into(), json!(true))]);
        assert!(entries(&json!(5)).is_empty());
        assert!(entries(&json!(null)).is_empty());
    }

    #[test]
    fn comparisons_coerce_as_in_javascript() {
        assert_eq!(compare(&json!("8"), &json!(5)), Some(Ordering::Greater));
        assert_eq!(compare(&json!(8), &json!("10")), Some(Ordering::Less));
        assert_eq!(
            compare(&json!("8"), &json!("10")),
            Some(Ordering::Greater),
            "string vs string is lexical"
        );
        assert_eq!(
            compare(&json!(null), &json!(-1)),
            Some(Ordering::Greater),
            "null is 0"
        );
        assert_eq!(
            compare(&json!("abc"), &json!(1)),
            None,
            "NaN compares false both ways"
        );
        assert_eq!(
            compare(&json!("AZL"), &json!("alphabet")),
            Some(Ordering::Less)
        );
        assert_eq!(
            cmp_utf16("\u{ff61}", "\u{1f600}"),
            Ordering::Greater,
            "UTF-16 order, not code point order"
        );
    }

    #[test]
    fn stringify_matches_json_stringify() {
        assert_eq!(
            stringify(&json!({"a": [1.0, "x", null, true]})),
            r#"{"a":[1,"x",null,true]}"#
        );
        assert!(strict_eq(&json!(1), &json!(1.0)));
        assert!(!strict_eq(&json!([1]), &json!([1])));
        assert!(!strict_eq(&json!("1"), &json!(1)));
    }
}
