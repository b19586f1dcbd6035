//! Schedules: when a rule is live. An absolute window in UTC (start inclusive, end
//! exclusive), optionally narrowed to recurring local-time windows (days of the week and
//! clock times) in a named IANA time zone. Local windows follow the zone's daylight-saving
//! rules: "weekdays 09:00–17:00 in Europe/Berlin" is 09:00 on the wall clock in winter and
//! in summer. On the day clocks go forward, a window inside the skipped hour never opens;
//! on the day they go back, the repeated hour is inside the window both times.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// When a rule is live.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// IANA zone for `recurring` (e.g. `Europe/Berlin`); default `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// If any are given, the rule is live only inside one of them (and inside start/end).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recurring: Vec<Window>,
}

/// A weekly local-time window, e.g. `{"days":["sat","sun"],"from":"10:00","to":"14:00"}`.
/// `from` later than `to` runs overnight: `fri 22:00–02:00` covers Friday 22:00 to
/// Saturday 02:00. No `days` means every day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<Day>,
    pub from: ClockTime,
    pub to: ClockTime,
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl From<Weekday> for Day {
    fn from(w: Weekday) -> Self {
        match w {
            Weekday::Mon => Day::Mon,
            Weekday::Tue => Day::Tue,
            Weekday::Wed => Day::Wed,
            Weekday::Thu => Day::Thu,
            Weekday::Fri => Day::Fri,
            Weekday::Sat => Day::Sat,
            Weekday::Sun => Day::Sun,
        }
    }
}

impl Day {
    fn previous(self) -> Day {
        match self {
            Day::Mon => Day::Sun,
            Day::Tue => Day::Mon,
            Day::Wed => Day::Tue,
            Day::Thu => Day::Wed,
            Day::Fri => Day::Thu,
            Day::Sat => Day::Fri,
            Day::Sun => Day::Sat,
        }
    }
}

/// A wall-clock time `HH:MM`, from `00:00` to `24:00` (the end of the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime {
    minutes: u16,
}

impl ClockTime {
    /// Minutes after midnight.
    pub fn minutes(self) -> u16 {
        self.minutes
    }
}

impl std::str::FromStr for ClockTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a time of day (HH:MM, 00:00 to 24:00)");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if m > 59 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(ClockTime {
            minutes: h * 60 + m,
        })
    }
}

impl std::fmt::Display for ClockTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Window {
    /// Whether local `day` at `minute` after midnight is inside the window.
    fn contains(&self, day: Day, minute: u16) -> bool {
        let on = |d: Day| self.days.is_empty() || self.days.contains(&d);
        let (from, to) = (self.from.minutes, self.to.minutes);
        if from < to {
            on(day) && (from..to).contains(&minute)
        } else {
            (on(day) && minute >= from) || (on(day.previous()) && minute < to)
        }
    }
}

/// Why a schedule cannot be saved; `field` is relative to the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    pub field: String,
    pub message: String,
}

impl Schedule {
    /// `now` in the zone recurring windows are in: (hour, minute, weekday); `None` if the
    /// zone is unknown (without the `time-zones` feature only `UTC` is known).
    fn local(&self, now: DateTime<Utc>) -> Option<(u32, u32, chrono::Weekday)> {
        local_time(self.time_zone.as_deref(), now)
    }

    /// Whether the rule is live at `now`. A schedule with an unknown zone is never live
    /// (saving refuses it; a rule that arrives that way anyhow is a no-op).
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        if self.start.is_some_and(|s| now < s) || self.end.is_some_and(|e| now >= e) {
            return false;
        }
        if self.recurring.is_empty() {
            return true;
        }
        let Some((hour, minute, weekday)) = self.local(now) else {
            return false;
        };
        let minute = (hour * 60 + minute) as u16;
        let day = Day::from(weekday);
        self.recurring.iter().any(|w| w.contains(day, minute))
    }

    /// Checks order of start/end, the zone name and every window.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        let e = |field: String, message: String| Err(ScheduleError { field, message });
        if let (Some(a), Some(b)) = (self.start, self.end) {
            if b <= a {
                return e("end".into(), "must be after schedule.start".into());
            }
        }
        if self.local(DateTime::<Utc>::UNIX_EPOCH).is_none() {
            return e(
                "timeZone".into(),
                format!(
                    "`{}` is not a known IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)",
                    self.time_zone.as_deref().unwrap_or_default()
                ),
            );
        }
        for (i, w) in self.recurring.iter().enumerate() {
            if w.from == w.to {
                return e(
                    format!("recurring[{i}].to"),
                    "must differ from `from` (use 00:00 to 24:00 for the whole day)".into(),
                );
            }
            if w.from.minutes == 24 * 60 {
                return e(
                    format!("recurring[{i}].from"),
                    "24:00 ends a day; a window cannot start there".into(),
                );
            }
        }
        Ok(())
    }
}

/// `now` in the IANA zone `zone` (`None`: UTC) as (hour, minute, weekday), or `None` if the
/// zone is unknown.
#[cfg(feature = "time-zones")]
pub fn local_time(zone: Option<&str>, now: DateTime<Utc>) -> Option<(u32, u32, chrono::Weekday)> {
    let tz: chrono_tz::Tz = match zone {
        None => chrono_tz::Tz::UTC,
        Some(name) => name.parse().ok()?,
    };
    let local = now.with_timezone(&tz);
    Some((local.hour(), local.minute(), local.weekday()))
}

/// Without the zone database only UTC is known.
#[cfg(not(feature = "time-zones"))]
pub fn local_time(zone: Option<&str>, now: DateTime<Utc>) -> Option<(u32, u32, chrono::Weekday)> {
    match zone {
        None | Some("UTC") | Some("Etc/UTC") => Some((now.hour(), now.minute(), now.weekday())),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_parse_strictly() {
        assert_eq!("09:30".parse::<ClockTime>().unwrap().minutes(), 570);
        assert_eq!("24:00".parse::<ClockTime>().unwrap().minutes(), 1440);
        for bad in ["9:30", "24:01", "12:60", "noon", "12-00", ""] {
            assert!(bad.parse::<ClockTime>().is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_round_trip() {
        let text = r#"{"start":"2026-11-01T00:00:00Z","timeZone":"Europe/Berlin","recurring":[{"days":["mon","fri"],"from":"22:00","to":"02:00"}]}"#;
        let s: Schedule = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), text);
        assert!(s.validate().is_ok());
    }
}
