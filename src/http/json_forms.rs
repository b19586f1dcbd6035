//! Lets API clients send JSON to the endpoints the admin UI posts forms to: a flat JSON
//! object is rewritten as the equivalent form body before the server function reads it.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cortex_app::api::catalog;
use cortex_core::ErrorCode;
use cortex_server::ApiError;
use serde_json::Value;

/// Axum middleware; see the module docs.
pub async fn json_to_form(req: Request, next: Next) -> Response {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if req.method() != Method::POST || !is_json || !catalog::is_form_endpoint(req.uri().path()) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    // The body limit layer outside this one has already bounded the size.
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                ErrorCode::PayloadTooLarge,
                "request body is larger than CORTEX_MAX_BODY_BYTES allows",
            )
            .into_response()
        }
    };
    let form = match to_form(&bytes) {
        Ok(f) => f,
        Err(msg) => return ApiError::bad_request(msg).into_response(),
    };
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    next.run(Request::from_parts(parts, Body::from(form))).await
}

/// `{"a":"x","n":3,"o":null}` → `a=x&n=3`. Nested values are refused.
fn to_form(bytes: &[u8]) -> Result<String, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(String::new());
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("malformed JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("the body must be a JSON object of fields".into());
    };
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in map {
        match v {
            Value::Null => {}
            Value::String(s) => {
                ser.append_pair(&k, &s);
            }
            Value::Bool(b) => {
                ser.append_pair(&k, if b { "true" } else { "false" });
            }
            Value::Number(n) => {
                ser.append_pair(&k, &n.to_string());
            }
            Value::Array(_) | Value::Object(_) => {
                return Err(format!("field `{k}` must be a string, number or boolean"))
            }
        }
    }
    Ok(ser.finish())
}

#[cfg(test)]
mod tests {
    use super::to_form;

    #[test]
    fn flat_objects_become_forms() {
        assert_eq!(
            to_form(br#"{"username":"a b","n":3,"x":null,"t":true}"#).unwrap(),
            "n=3&t=true&username=a+b"
        );
        assert_eq!(to_form(b"  ").unwrap(), "");
        assert!(to_form(b"[1]").unwrap_err().contains("JSON object"));
        assert!(to_form(br#"{"a":{"b":1}}"#).unwrap_err().contains("`a`"));
        assert!(to_form(b"{oops").unwrap_err().contains("malformed JSON"));
    }
}
