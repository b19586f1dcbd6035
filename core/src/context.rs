//! What is known about one page view, and the attribute object conditions see.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cell::OnceCell;
use std::collections::BTreeSet;

/// Device class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Mobile,
    Tablet,
    Desktop,
    Bot,
}

impl Device {
    /// The lowercase name conditions compare against.
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Mobile => "mobile",
            Device::Tablet => "tablet",
            Device::Desktop => "desktop",
            Device::Bot => "bot",
        }
    }

    /// Classifies a `User-Agent` header. Bots first (so a mobile crawler is a bot), then
    /// tablets (iPad, Android without "Mobile", "Tablet"), then phones.
    pub fn from_user_agent(ua: &str) -> Device {
        let l = ua.to_ascii_lowercase();
        const BOTS: [&str; 9] = [
            "bot",
            "crawler",
            "spider",
            "slurp",
            "headlesschrome",
            "lighthouse",
            "facebookexternalhit",
            "curl/",
            "python-requests",
        ];
        if l.trim().is_empty() || BOTS.iter().any(|b| l.contains(b)) {
            return Device::Bot;
        }
        if l.contains("ipad")
            || l.contains("tablet")
            || l.contains("kindle")
            || l.contains("silk/")
            || (l.contains("android") && !l.contains("mobile"))
        {
            return Device::Tablet;
        }
        if l.contains("mobi")
            || l.contains("iphone")
            || l.contains("ipod")
            || l.contains("android")
            || l.contains("windows phone")
        {
            return Device::Mobile;
        }
        Device::Desktop
    }
}

/// Where the visit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Tagged traffic (`utm_*`, click ids) other than email.
    Campaign,
    Email,
    Search,
    Social,
    /// Another site.
    Referral,
    /// No referrer.
    Direct,
}

impl Source {
    /// The lowercase name conditions compare against.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Campaign => "campaign",
            Source::Email => "email",
            Source::Search => "search",
            Source::Social => "social",
            Source::Referral => "referral",
            Source::Direct => "direct",
        }
    }

    /// Derives the source from the referrer and the landing page's `utm_*`/click-id parameters.
    pub fn derive(referrer: Option<&str>, utm: &Utm) -> Source {
        let medium = utm.medium.as_deref().unwrap_or("").to_ascii_lowercase();
        if medium == "email" || medium == "newsletter" {
            return Source::Email;
        }
        let host = referrer.and_then(host_of).unwrap_or_default();
        if host.starts_with("mail.") || host.contains("outlook.") {
            return Source::Email;
        }
        if utm.source.is_some() || utm.campaign.is_some() || !medium.is_empty() || utm.click_id {
            return Source::Campaign;
        }
        const SEARCH: [&str; 8] = [
            "google.",
            "bing.",
            "duckduckgo.",
            "yahoo.",
            "baidu.",
            "yandex.",
            "ecosia.",
            "search.brave.",
        ];
        const SOCIAL: [&str; 12] = [
            "facebook.",
            "fb.",
            "instagram.",
            "t.co",
            "twitter.",
            "x.com",
            "linkedin.",
            "lnkd.in",
            "reddit.",
            "pinterest.",
            "tiktok.",
            "youtube.",
        ];
        let is = |list: &[&str]| {
            list.iter()
                .any(|d| host == d.trim_end_matches('.') || host.contains(d))
        };
        if host.is_empty() {
            Source::Direct
        } else if is(&SEARCH) {
            Source::Search
        } else if is(&SOCIAL) {
            Source::Social
        } else {
            Source::Referral
        }
    }
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest
        .split(['/', '?', '#'])
        .next()?
        .split('@')
        .next_back()?
        .split(':')
        .next()?;
    let host = host.to_ascii_lowercase();
    Some(
        host.strip_prefix("www.")
            .map(str::to_string)
            .unwrap_or(host),
    )
}

/// Campaign parameters of the landing URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Utm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// A `gclid`, `fbclid` or `msclkid` was present.
    #[serde(default)]
    pub click_id: bool,
}

impl Utm {
    /// Reads `utm_*` and click ids from a URL's query string.
    pub fn from_url(url: &str) -> Utm {
        let mut utm = Utm::default();
        let query = url
            .split_once('?')
            .map_or("", |(_, q)| q)
            .split('#')
            .next()
            .unwrap_or("");
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = Some(percent_decode(v)).filter(|v| !v.is_empty());
            match k {
                "utm_source" => utm.source = v,
                "utm_medium" => utm.medium = v,
                "utm_campaign" => utm.campaign = v,
                "utm_term" => utm.term = v,
                "utm_content" => utm.content = v,
                "gclid" | "fbclid" | "msclkid" => utm.click_id = true,
                _ => {}
            }
        }
        utm
    }
}

/// Decodes `+` and `%XX` (malformed escapes are kept as written).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Everything known about one page view. Build it on the server from the request (or in the
/// browser), then turn it into condition attributes with [`Context::attributes`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journey_stage: Option<String>,
    /// Quiz question → answer.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub quiz: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Overrides the device derived from the user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// The page's URL (for `utm_*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The visitor's IANA time zone (the browser's `Intl` zone), e.g. `Europe/Berlin`;
    /// preferred over `utcOffsetMinutes` when both are given and the name is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Minutes east of UTC in the visitor's zone right now (the browser knows, DST included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset_minutes: Option<i32>,
    /// Anything else, visible to conditions under its own name.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub custom: Map<String, Value>,
    /// The variants this visitor already saw in bandit experiments (experiment key →
    /// variant key), so they keep them while the bandit moves its weights. The storefront
    /// keeps them in a cookie; a neuron passes what it stored. At most [`MAX_STICKY`].
    #[serde(default, skip_serializing_if = "Sticky::is_empty")]
    pub sticky: Sticky,
}

/// Experiment key → the variant key a visitor saw.
pub type Sticky = std::collections::BTreeMap<String, String>;

/// Most sticky assignments a context carries (the rest are ignored); longer keys are too.
pub const MAX_STICKY: usize = 32;
/// Longest experiment or variant key a sticky assignment may name.
pub const MAX_STICKY_KEY: usize = 100;

/// The sticky assignments worth keeping: at most [`MAX_STICKY`], keys of at most
/// [`MAX_STICKY_KEY`] bytes.
pub fn bounded_sticky(sticky: &Sticky) -> Sticky {
    sticky
        .iter()
        .filter(|(k, v)| k.len() <= MAX_STICKY_KEY && v.len() <= MAX_STICKY_KEY)
        .take(MAX_STICKY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Which attributes to build for a visit: all of them, or only those a rule set's conditions
/// read (see [`crate::resolve::Plan::reads`]); the others cost time and change no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reads {
    All,
    Only(BTreeSet<String>),
}

impl Context {
    /// This visitor's segment as events carry it (see [`crate::analytics::segment_of`]).
    pub fn segment(&self, now: DateTime<Utc>) -> Option<String> {
        let reads = Reads::Only(
            crate::analytics::SEGMENT_DIMENSIONS
                .iter()
                .map(|d| d.to_string())
                .collect(),
        );
        crate::analytics::segment_of(&self.attributes_read(now, &reads))
    }

    /// The attribute object conditions see. `id` is the user id when signed in, else the
    /// anonymous id (so a visitor keeps their variant across devices once identified).
    /// Derived: `device`, `source`, `utm`, `hour` and `weekday` (1 = Monday, in the
    /// visitor's zone), `now` (RFC 3339 UTC). Custom attributes never override these.
    pub fn attributes(&self, now: DateTime<Utc>) -> Value {
        self.attributes_read(now, &Reads::All)
    }

    /// [`Context::attributes`], with only the attributes in `reads` (the others are not
    /// derived at all: no user-agent parsing, no time zone lookup for a rule set that reads
    /// neither).
    pub fn attributes_read(&self, now: DateTime<Utc>, reads: &Reads) -> Value {
        let derive = Derive {
            context: self,
            now,
            utm: OnceCell::new(),
            local: OnceCell::new(),
        };
        let mut m = Map::new();
        let put = |name: &str| {
            if !m.contains_key(name) {
                if let Some(v) = derive.value(name) {
                    m.insert(name.to_string(), v);
                }
            }
        };
        match reads {
            Reads::All => KNOWN
                .iter()
                .copied()
                .chain(self.custom.keys().map(String::as_str))
                .for_each(put),
            Reads::Only(names) => names.iter().map(String::as_str).for_each(put),
        }
        Value::Object(m)
    }
}

/// The attributes a [`Context`] has by name, besides its custom ones.
const KNOWN: [&str; 18] = [
    "id",
    "userId",
    "anonymousId",
    "sessionId",
    "persona",
    "journeyStage",
    "quiz",
    "locale",
    "language",
    "region",
    "referrer",
    "url",
    "device",
    "source",
    "utm",
    "hour",
    "weekday",
    "now",
];

/// Derives one attribute at a time; what several attributes need is worked out once.
struct Derive<'c> {
    context: &'c Context,
    now: DateTime<Utc>,
    utm: OnceCell<Utm>,
    /// The visitor's local hour and weekday.
    local: OnceCell<(u32, chrono::Weekday)>,
}

impl Derive<'_> {
    /// The attribute `name`: a known one when the context has it, else a custom one (custom
    /// attributes never override known ones).
    fn value(&self, name: &str) -> Option<Value> {
        let c = self.context;
        let s = |v: &Option<String>| v.clone().map(Value::String);
        let known = match name {
            "id" => s(&c.user_id).or_else(|| s(&c.anonymous_id)),
            "userId" => s(&c.user_id),
            "anonymousId" => s(&c.anonymous_id),
            "sessionId" => s(&c.session_id),
            "persona" => s(&c.persona),
            "journeyStage" => s(&c.journey_stage),
            "quiz" => (!c.quiz.is_empty()).then(|| Value::Object(c.quiz.clone())),
            "locale" => s(&c.locale),
            "language" => c.locale.as_ref().map(|l| {
                Value::String(l.split(['-', '_']).next().unwrap_or(l).to_ascii_lowercase())
            }),
            "region" => s(&c.region),
            "referrer" => s(&c.referrer),
            "url" => s(&c.url),
            "device" => {
                let device = c.device.unwrap_or_else(|| {
                    Device::from_user_agent(c.user_agent.as_deref().unwrap_or(""))
                });
                Some(Value::String(device.as_str().into()))
            }
            "source" => {
                let source = Source::derive(c.referrer.as_deref(), self.utm());
                Some(Value::String(source.as_str().into()))
            }
            "utm" => serde_json::to_value(self.utm()).ok(),
            "hour" => Some(Value::from(self.local().0)),
            "weekday" => Some(Value::from(self.local().1.number_from_monday())),
            "now" => Some(Value::String(
                self.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            )),
            _ => None,
        };
        known.or_else(|| c.custom.get(name).cloned())
    }

    fn utm(&self) -> &Utm {
        self.utm.get_or_init(|| {
            let url = self.context.url.as_deref();
            url.map(Utm::from_url).unwrap_or_default()
        })
    }

    fn local(&self) -> (u32, chrono::Weekday) {
        *self.local.get_or_init(|| {
            let c = self.context;
            let zoned = c
                .time_zone
                .as_deref()
                .and_then(|z| crate::schedule::local_time(Some(z), self.now));
            match zoned {
                Some((hour, _, weekday)) => (hour, weekday),
                None => {
                    let offset = Duration::minutes(i64::from(c.utc_offset_minutes.unwrap_or(0)));
                    let local = self.now + offset;
                    (local.hour(), local.weekday())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn devices_from_user_agents() {
        let cases = [
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", Device::Mobile),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36", Device::Mobile),
            ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 Chrome/120 Safari/537.36", Device::Tablet),
            ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15", Device::Tablet),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537.36", Device::Desktop),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15", Device::Desktop),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", Device::Bot),
            ("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X) Mobile Safari (compatible; Googlebot/2.1)", Device::Bot),
            ("curl/8.5.0", Device::Bot),
            ("", Device::Bot),
        ];
        for (ua, want) in cases {
            assert_eq!(Device::from_user_agent(ua), want, "{ua}");
        }
    }

    #[test]
    fn sources_from_referrers_and_campaign_tags() {
        let none = Utm::default();
        assert_eq!(Source::derive(None, &none), Source::Direct);
        assert_eq!(
            Source::derive(Some("https://www.google.de/search?q=x"), &none),
            Source::Search
        );
        assert_eq!(
            Source::derive(Some("https://duckduckgo.com/"), &none),
            Source::Search
        );
        assert_eq!(
            Source::derive(Some("https://t.co/abc"), &none),
            Source::Social
        );
        assert_eq!(
            Source::derive(Some("https://l.facebook.com/l.php"), &none),
            Source::Social
        );
        assert_eq!(
            Source::derive(Some("https://mail.google.com/"), &none),
            Source::Email
        );
        assert_eq!(
            Source::derive(Some("https://blog.example.org/post"), &none),
            Source::Referral
        );
        let campaign = Utm::from_url(
            "https://shop.example/?utm_source=newsletter_partner&utm_campaign=bf%202026#top",
        );
        assert_eq!(campaign.campaign.as_deref(), Some("bf 2026"));
        assert_eq!(
            Source::derive(Some("https://www.google.com/"), &campaign),
            Source::Campaign
        );
        assert_eq!(
            Source::derive(None, &Utm::from_url("/?utm_medium=email")),
            Source::Email
        );
        assert_eq!(
            Source::derive(None, &Utm::from_url("/?gclid=abc")),
            Source::Campaign
        );
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
    }

    #[test]
    fn attributes_for_conditions() {
        let ctx = Context {
            anonymous_id: Some("anon-1".into()),
            persona: Some("bargain-hunter".into()),
            locale: Some("de-DE".into()),
            user_agent: Some("Mozilla/5.0 (iPhone) Mobile".into()),
            url: Some("https://shop.example/?utm_source=fb".into()),
            utc_offset_minutes: Some(60),
            quiz: Map::from_iter([("budget".into(), json!("low"))]),
            custom: Map::from_iter([
                ("device".into(), json!("spoofed")),
                ("plan".into(), json!("pro")),
            ]),
            ..Context::default()
        };
        let now: DateTime<Utc> = "2026-11-29T23:30:00Z".parse().unwrap(); // a Sunday in UTC
        let a = ctx.attributes(now);
        assert_eq!(a["id"], "anon-1");
        assert_eq!(
            a["device"], "mobile",
            "custom attributes never override derived ones"
        );
        assert_eq!(a["plan"], "pro");
        assert_eq!(a["language"], "de");
        assert_eq!(a["source"], "campaign");
        assert_eq!(a["quiz"]["budget"], "low");
        assert_eq!(
            (a["hour"].as_u64(), a["weekday"].as_u64()),
            (Some(0), Some(1)),
            "00:30 on Monday in UTC+1"
        );
        let in_zone = |zone: &str, at: &str| {
            let a = Context {
                time_zone: Some(zone.into()),
                utc_offset_minutes: Some(60),
                ..Context::default()
            }
            .attributes(at.parse().unwrap());
            (a["hour"].as_u64(), a["weekday"].as_u64())
        };
        // A named zone wins over the offset and knows its daylight-saving rules.
        assert_eq!(
            in_zone("Europe/Berlin", "2026-07-01T10:00:00Z"),
            (Some(12), Some(3))
        );
        assert_eq!(
            in_zone("America/New_York", "2026-11-30T03:00:00Z"),
            (Some(22), Some(7))
        );
        assert_eq!(
            in_zone("Not/AZone", "2026-07-01T10:00:00Z"),
            (Some(11), Some(3))
        );
        let signed_in = Context {
            user_id: Some("u-9".into()),
            ..ctx
        }
        .attributes(now);
        assert_eq!(signed_in["id"], "u-9");
        let cond = crate::targeting::Condition::compile(
            &json!({"device": "mobile", "quiz.budget": "low", "hour": {"$lt": 6}}),
        );
        assert!(cond.eval(&a, &crate::targeting::SavedGroups::default()));
    }
}
