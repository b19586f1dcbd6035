//! The hub's status as its Status page shows it.

use serde::{Deserialize, Serialize};

/// What the Status page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HubStatus {
    pub version: String,
    pub backend: String,
    pub database_ok: bool,
    pub database_error: Option<String>,
    pub data_dir: String,
    pub uptime_secs: u64,
    pub users: i64,
    /// Entries verified (`{"Ok": n}`), or where the chain breaks (`{"Err": "..."}`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub audit_chain: Result<i64, String>,
    pub session_ttl_secs: u64,
    pub secure_cookies: bool,
    /// The chain's latest entry as the hub keeps it outside the database (none yet on a new
    /// hub).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub audit_head: Option<crate::audit::AuditHead>,
    /// The analytics spool: bytes waiting for the database, and why it refuses batches
    /// (a full disk, say) while it does.
    pub spool_backlog_bytes: u64,
    pub spool_refusing: Option<String>,
    /// The storefront's own page views and exposures since the hub started: recorded, and
    /// shed because the spool could not take them in time (should stay 0).
    pub storefront_events_recorded: u64,
    pub storefront_events_shed: u64,
    /// The last-known-good copy of the control state in the data dir: when it was taken (ms
    /// since the epoch) and how many rows it holds.
    pub control_copy_taken_at: Option<i64>,
    pub control_copy_rows: Option<usize>,
    /// The public URL links and cookies are made for (`CORTEX_PUBLIC_URL`), if set.
    #[serde(default)]
    pub public_url: Option<String>,
    /// What an operator should fix, in words (see [`warnings`]); empty when nothing.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// What the Status page warns about: cookies sent without `Secure` (a session could travel
/// in clear text), and a public URL that is not https (or none: links and cookies are made
/// for plain http).
pub fn warnings(secure_cookies: bool, public_url: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    match public_url {
        None => out.push(
            "No public URL is set (CORTEX_PUBLIC_URL): the hub assumes plain http. Behind TLS, set it to the https:// address people use.".to_string(),
        ),
        Some(url) if !url.starts_with("https://") => out.push(format!(
            "The public URL {url} is not https: sign-ins and sessions cross the network in clear text. Serve the hub behind TLS and set CORTEX_PUBLIC_URL to its https:// address."
        )),
        Some(_) => {}
    }
    if !secure_cookies {
        out.push(
            "Cookies are not marked Secure: browsers also send the session cookie over plain http. Set an https public URL, or CORTEX_SECURE_COOKIES=true.".to_string(),
        );
    }
    out
}

/// A duration in the largest units that read well: `45 s`, `3 min 20 s`, `12 h`,
/// `2 d 3 h`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    let parts: Vec<String> = if d > 0 {
        vec![format!("{d} d"), format!("{h} h")]
    } else if h > 0 {
        vec![format!("{h} h"), format!("{m} min")]
    } else if m > 0 {
        vec![format!("{m} min"), format!("{s} s")]
    } else {
        vec![format!("{s} s")]
    };
    // Drop a trailing zero part: `12 h`, not `12 h 0 min`.
    match parts.as_slice() {
        [big, small] if small.starts_with("0 ") => big.clone(),
        _ => parts.join(" "),
    }
}

/// A size in bytes, in the largest binary unit below it: `512 B`, `1.5 KiB`, `20.0 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_as_people_say_them() {
        assert_eq!(human_duration(45), "45 s");
        assert_eq!(human_duration(200), "3 min 20 s");
        assert_eq!(human_duration(43_200), "12 h");
        assert_eq!(human_duration(3_660), "1 h 1 min");
        assert_eq!(human_duration(183_600), "2 d 3 h");
        assert_eq!(human_duration(86_400), "1 d");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(20 * 1024 * 1024), "20.0 MiB");
    }

    #[test]
    fn plain_http_and_cookies_without_secure_are_warned_about() {
        assert_eq!(
            warnings(true, Some("https://cortex.example.org")),
            Vec::<String>::new()
        );
        let w = warnings(false, None);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("No public URL") && w[1].contains("not marked Secure"));
        let w = warnings(true, Some("http://10.0.0.5:3000"));
        assert!(w.len() == 1 && w[0].contains("is not https"), "{w:?}");
    }
}
