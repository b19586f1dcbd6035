//! URLs that editors write into layouts and rules (a hero's `href`, an image's `src`) end up
//! in `href` and `src` attributes of pages served from the hub's own origin, where a
//! `javascript:` URL would run an editor's script with an admin's session. One rule for
//! both ends: saving refuses unsafe URLs with the field named, and rendering drops any that
//! got in anyway (an older rule, an import, a direct database edit).

use serde_json::Value;

/// Schemes a link may use; anything without a scheme is relative to the page and allowed.
pub const SAFE_SCHEMES: [&str; 4] = ["http", "https", "mailto", "tel"];

/// `url` if it is safe to put in `href` or `src`: relative, or with one of
/// [`SAFE_SCHEMES`]. Read as a browser reads it: tabs and newlines anywhere and control
/// characters and spaces around it are ignored, and the scheme's case does not matter, so
/// `" JaVa\tScRiPt:…"` is caught.
pub fn safe_url(url: &str) -> Option<&str> {
    let cleaned: String = url
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let scheme_end = cleaned.find([':', '/', '?', '#']);
    match scheme_end {
        Some(i) if cleaned.as_bytes()[i] == b':' => {
            let scheme = cleaned[..i].to_ascii_lowercase();
            SAFE_SCHEMES.contains(&scheme.as_str()).then_some(url)
        }
        _ => Some(url),
    }
}

/// Whether a prop of this name holds a URL (`href`, `src`, `url`, `action`, `poster`,
/// `link`, or a name ending in one of them such as `ctaHref` or `image_url`).
pub fn is_url_prop(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["href", "src", "url", "action", "poster", "link", "srcset"]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
}

/// Finds the first unsafe URL in a JSON value (props, a node, a payload): a string under a
/// key [`is_url_prop`] names, at any depth. `Err((path, url))` names where it is, as
/// `prefix.key[2].href`.
pub fn check_value(prefix: &str, value: &Value) -> Result<(), (String, String)> {
    fn walk(path: &mut String, value: &Value, url_key: bool) -> Result<(), (String, String)> {
        match value {
            Value::String(s) if url_key => {
                // `srcset` lists several URLs, each followed by a size.
                let unsafe_part = s
                    .split(',')
                    .map(|part| part.split_whitespace().next().unwrap_or(""))
                    .chain(std::iter::once(s.as_str()))
                    .find(|u| safe_url(u).is_none());
                match unsafe_part {
                    Some(_) => Err((path.clone(), s.clone())),
                    None => Ok(()),
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(path, item, url_key)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Value::Object(map) => {
                for (k, v) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    walk(path, v, is_url_prop(k))?;
                    path.truncate(len);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    let mut path = prefix.to_string();
    walk(&mut path, value, false)
}

/// The message for an unsafe URL at `path`.
pub fn unsafe_url_message(url: &str) -> String {
    let shown: String = url.chars().take(60).collect();
    format!("`{shown}` is not a safe link: use http, https, mailto, tel or a path on this site")
}

/// `v` percent-encoded for a query value or a path segment: letters, digits, `-`, `_` and
/// `.` stay, every other byte becomes `%XX`.
pub fn encode_component(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scripts_and_data_are_refused_in_every_disguise() {
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "\u{1}javascript:alert(1)",
            "java\tscript:alert(1)",
            "java\nscript:alert(1)",
            "vbscript:msgbox(1)",
            "data:text/html,<script>alert(1)</script>",
            "blob:https://x/1",
            "file:///etc/passwd",
        ] {
            assert_eq!(safe_url(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn links_people_write_are_kept() {
        for good in [
            "https://shop.example.com/sale",
            "HTTP://example.com",
            "/shop/sale",
            "#products",
            "?hike=yes",
            "sale",
            "//cdn.example.com/x.png",
            "mailto:help@example.com",
            "tel:+4930123",
            "/path/with:colon",
            "",
        ] {
            assert_eq!(safe_url(good), Some(good), "{good:?}");
        }
    }

    #[test]
    fn only_url_props_are_checked_and_the_path_is_named() {
        let props = json!({
            "headline": "javascript: the good parts",
            "href": "/ok",
            "items": [{"name": "a", "link": "https://x"}, {"name": "b", "imageUrl": "javascript:x"}]
        });
        assert_eq!(
            check_value("patch", &props),
            Err(("patch.items[1].imageUrl".into(), "javascript:x".into()))
        );
        assert!(check_value("p", &json!({"headline": "javascript:x"})).is_ok());
        assert!(check_value("p", &json!({"srcset": "/a.png 1x, javascript:x 2x"})).is_err());
        assert!(check_value("p", &json!({"srcset": "/a.png 1x, /b.png 2x"})).is_ok());
    }
}
