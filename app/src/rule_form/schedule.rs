//! The schedule in the rule form: start, end, a time zone and weekly windows.

use super::*;

/// `2026-12-01T09:00` (what a `datetime-local` input sends), with seconds, or RFC 3339.
pub(super) fn instant(field: &str, text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    use chrono::NaiveDateTime;
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .map(|t| t.and_utc())
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()))
        .map_err(|_| format!("{field}: `{text}` is not a UTC time like 2026-12-01T09:00"))
}

pub(super) fn instant_text(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M").to_string()
}

pub(super) const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `mon-fri`, `sat, sun`, `weekdays`, `weekend`; empty for every day.
pub(super) fn days(field: &str, text: &str) -> Result<Vec<&'static str>, String> {
    const NAMES: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let day = |t: &str| {
        let t = t.trim().to_ascii_lowercase();
        (0..7)
            .find(|&d| t == DAYS[d] || t == NAMES[d])
            .ok_or_else(|| format!("{field}: `{t}` is not a day (mon, tue, … sun)"))
    };
    let mut out: Vec<&'static str> = Vec::new();
    for part in text
        .split([',', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let range = match part.to_ascii_lowercase().as_str() {
            "weekdays" => 0..=4,
            "weekend" | "weekends" => 5..=6,
            _ => match part.split_once('-') {
                Some((a, b)) => day(a)?..=day(b)?,
                None => {
                    let d = day(part)?;
                    d..=d
                }
            },
        };
        if range.is_empty() {
            return Err(format!(
                "{field}: `{part}` runs backwards; write e.g. mon-fri"
            ));
        }
        for d in range {
            if !out.contains(&DAYS[d]) {
                out.push(DAYS[d]);
            }
        }
    }
    Ok(out)
}

pub(super) fn schedule(f: &RuleForm) -> Result<Option<Value>, String> {
    let mut s = Map::new();
    if let Some(t) = given(&f.start) {
        s.insert("start".into(), json!(instant("start", t)?));
    }
    if let Some(t) = given(&f.end) {
        s.insert("end".into(), json!(instant("end", t)?));
    }
    if let Some(z) = given(&f.time_zone) {
        s.insert("timeZone".into(), z.into());
    }
    let mut windows = Vec::new();
    for i in 0..WINDOW_ROWS {
        let (n, w) = (i + 1, f.window(i));
        if w.days.trim().is_empty() && w.from.trim().is_empty() && w.to.trim().is_empty() {
            continue;
        }
        let clock = |field: String, text: &str| -> Result<String, String> {
            let text = given(text).ok_or_else(|| format!("{field}: a time, HH:MM"))?;
            text.parse::<cortex_core::mutation::ClockTime>()
                .map(|c| c.to_string())
                .map_err(|e| format!("{field}: {e}"))
        };
        let mut window = json!({"from": clock(format!("w{n}_from"), w.from)?, "to": clock(format!("w{n}_to"), w.to)?});
        let days = days(&format!("w{n}_days"), w.days)?;
        if !days.is_empty() {
            window["days"] = json!(days);
        }
        windows.push(window);
    }
    if !windows.is_empty() {
        s.insert("recurring".into(), windows.into());
    }
    Ok((!s.is_empty()).then_some(Value::Object(s)))
}
