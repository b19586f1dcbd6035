//! Config bundles: where a push goes (scopes and staged audiences), what it carries, its
//! place in its scope's history, and how far it has spread.

use super::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a bundle goes: every neuron, neurons with a tag, or one neuron. Written as
/// `global`, `tag:<tag>` or `neuron:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Global,
    Tag(String),
    Neuron(String),
}

impl Scope {
    /// Whether a neuron with this id and these tags receives bundles of this scope.
    pub fn covers(&self, id: &str, tags: &[String]) -> bool {
        match self {
            Scope::Global => true,
            Scope::Tag(t) => tags.contains(t),
            Scope::Neuron(n) => n == id,
        }
    }

    /// The scopes a neuron listens to.
    pub fn all_for(id: &str, tags: &[String]) -> Vec<Scope> {
        let mut v = vec![Scope::Global, Scope::Neuron(id.to_string())];
        v.extend(tags.iter().map(|t| Scope::Tag(t.clone())));
        v
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Tag(t) => write!(f, "tag:{t}"),
            Scope::Neuron(n) => write!(f, "neuron:{n}"),
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        let scope = match s.split_once(':') {
            None if s == "global" => Scope::Global,
            Some(("tag", t)) => {
                check_name("scope", t)?;
                Scope::Tag(t.into())
            }
            Some(("neuron", n)) => {
                check_name("scope", n)?;
                Scope::Neuron(n.into())
            }
            _ => {
                return Err(FieldError::new(
                    "scope",
                    format!("`{s}` is not `global`, `tag:<tag>` or `neuron:<id>`"),
                ))
            }
        };
        Ok(scope)
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Scope {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("`global`, `tag:<tag>` or `neuron:<id>`"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Scope {}

/// What a bundle carries. Each push of a kind to a scope replaces the previous one: a bundle
/// is a whole document, so the latest revision is all a neuron needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum BundleKind {
    Config,
    Experiments,
    Offers,
    LayoutRules,
}

impl BundleKind {
    pub const ALL: [BundleKind; 4] = [
        BundleKind::Config,
        BundleKind::Experiments,
        BundleKind::Offers,
        BundleKind::LayoutRules,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BundleKind::Config => "config",
            BundleKind::Experiments => "experiments",
            BundleKind::Offers => "offers",
            BundleKind::LayoutRules => "layoutRules",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Who a staged push goes to: neurons with one of `tags`, and a stable `percent` of the
/// others in the scope. Empty: everyone in the scope. A neuron's bucket depends only on the
/// scope and its id, so raising the percentage keeps everyone already in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Audience {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl Audience {
    /// Everyone in the scope (not staged).
    pub fn is_everyone(&self) -> bool {
        self.percent.is_none_or(|p| p >= 100) && self.tags.is_empty()
    }

    /// Whether neuron `id` with `tags` gets a push to `scope` with this audience.
    pub fn includes(&self, scope: &Scope, id: &str, tags: &[String]) -> bool {
        if self.is_everyone() || self.tags.iter().any(|t| tags.contains(t)) {
            return true;
        }
        self.percent.is_some_and(|p| {
            crate::bucketing::fnv1a32(&format!("{scope}/{id}")) % 100 < u32::from(p)
        })
    }

    /// Whether a push to `scope` with this audience goes to neuron `id` with `tags`: the
    /// scope covers it and the audience includes it.
    pub fn reaches(&self, scope: &Scope, id: &str, tags: &[String]) -> bool {
        scope.covers(id, tags) && self.includes(scope, id, tags)
    }

    /// The audience of a staged push as a form gives it: a percentage (1-100; 100 or empty:
    /// everyone) and tags separated by commas, spaces or lines (at most 32).
    pub fn parse_form(percent: &str, tags: &str) -> Result<Self, FieldError> {
        let percent = match percent.trim() {
            "" => None,
            p => match p.trim_end_matches('%').trim().parse::<u8>() {
                Ok(n) if (1..=100).contains(&n) => Some(n).filter(|n| *n < 100),
                _ => {
                    return Err(FieldError::new(
                        "rollout_percent",
                        format!("`{p}` is not a whole number from 1 to 100"),
                    ))
                }
            },
        };
        let tags = split_list(tags);
        if tags.len() > 32 {
            return Err(FieldError::new("rollout_tags", "at most 32 tags"));
        }
        for (i, t) in tags.iter().enumerate() {
            check_name(&format!("rollout_tags[{i}]"), t)?;
        }
        Ok(Self { percent, tags })
    }

    /// How it reads on the dashboard.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.tags.is_empty() {
            parts.push(format!("tags {}", self.tags.join(", ")));
        }
        if let Some(p) = self.percent.filter(|p| *p < 100) {
            parts.push(format!("{p}%"));
        }
        if parts.is_empty() {
            "everyone".into()
        } else {
            parts.join(" + ")
        }
    }
}

/// Of `bundles` (newer than what a neuron holds), those it should get: in its scopes and
/// audiences, the latest of each kind per scope, oldest first.
pub fn latest_for(bundles: Vec<Bundle>, id: &str, tags: &[String]) -> Vec<Bundle> {
    let mut latest: std::collections::BTreeMap<(Scope, BundleKind), Bundle> = Default::default();
    for b in bundles {
        if !b.audience.reaches(&b.scope, id, tags) {
            continue;
        }
        let key = (b.scope.clone(), b.kind);
        if latest
            .get(&key)
            .is_none_or(|held| held.revision < b.revision)
        {
            latest.insert(key, b);
        }
    }
    let mut out: Vec<Bundle> = latest.into_values().collect();
    out.sort_by(|a, b| (&a.scope, a.revision).cmp(&(&b.scope, b.revision)));
    out
}

/// A pushed document with its place in its scope's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub scope: Scope,
    /// Monotonic per scope, from 1.
    pub revision: u64,
    pub kind: BundleKind,
    pub body: serde_json::Value,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// A staged push reaches only this audience (absent: everyone in the scope).
    #[serde(default, skip_serializing_if = "Audience::is_everyone")]
    pub audience: Audience,
    /// The revision of its kind it was made from, when the push named one (0: none yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_revision: Option<u64>,
    /// A stale push applied under last-write-wins: the newest revision of its kind it
    /// replaced without having seen it (restorable from the scope's history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrote: Option<u64>,
}

impl Bundle {
    /// Whether a browser neuron `id` may take this bundle: layout rules, experiments and
    /// offers (they end up in public pages anyway), but `config` only when pushed to that
    /// neuron alone. Config meant for server neurons (secrets, internal addresses) never
    /// reaches a browser, whatever tags the browser claims.
    pub fn reaches_browser(&self, id: &str) -> bool {
        self.kind != BundleKind::Config || self.scope == Scope::Neuron(id.to_string())
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PushResult {
    pub scope: String,
    /// The new revision; 0 when the push is held for review (`held`).
    pub revision: u64,
    pub kind: String,
    /// Joined neurons in the scope (by the registry), connected or not.
    pub targeted: u64,
    /// Connected neurons it was sent to right away; the others get it when they reconnect.
    pub sent: u64,
    /// Connected neurons too slow to take it (disconnected; they catch up on reconnect).
    pub dropped: u64,
    /// The staged audience (absent: everyone in the scope).
    #[serde(default, skip_serializing_if = "Audience::is_everyone")]
    pub audience: Audience,
    /// A stale push applied under last-write-wins: the revision it overwrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrote: Option<u64>,
    /// Not applied: held as a change request for another editor to approve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<review::HeldPush>,
}

/// A recent push and how far it has spread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Propagation {
    pub scope: String,
    pub revision: u64,
    pub kind: BundleKind,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Size of the body in bytes (JSON).
    pub bytes: u64,
    /// Joined neurons in the scope now.
    pub targeted: u64,
    /// Neurons that acknowledged this revision or a later one.
    pub acked: u64,
    /// The staged audience (absent: everyone in the scope).
    #[serde(default, skip_serializing_if = "Audience::is_everyone")]
    pub audience: Audience,
    /// The body of a staged push, to promote it to the whole scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_body: Option<serde_json::Value>,
}

/// How one push spread: how many neurons held it at moments after it was made (up to 61
/// steps from the push to its last acknowledgement, or 10 s), against the neurons it targets
/// (the federation page's propagation chart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PushSpread {
    pub scope: String,
    pub revision: u64,
    pub created_at: DateTime<Utc>,
    pub targeted: u64,
    /// Neurons that acknowledged exactly this revision.
    pub acked: u64,
    /// Milliseconds from the push to its last acknowledgement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ack_ms: Option<i64>,
    /// `(milliseconds after the push, neurons holding it by then)`, in time order.
    pub curve: Vec<(i64, u64)>,
}

impl PushSpread {
    /// Acknowledgement times read to draw one spread.
    pub const MAX_ACKS: u32 = 100_000;
    /// Steps of the curve.
    const STEPS: i64 = 60;

    /// The spread from the acknowledgement times (earliest first).
    pub fn from_acks(
        scope: String,
        revision: u64,
        created_at: DateTime<Utc>,
        targeted: u64,
        acks: &[DateTime<Utc>],
    ) -> Self {
        let after = |a: &DateTime<Utc>| (*a - created_at).num_milliseconds();
        let last_ack_ms = acks.last().map(after);
        let span = last_ack_ms.unwrap_or(0).max(10_000);
        let mut held = 0usize;
        let curve = (0..=Self::STEPS)
            .map(|k| {
                let at = span * k / Self::STEPS;
                while held < acks.len() && after(&acks[held]) <= at {
                    held += 1;
                }
                (at, held as u64)
            })
            .collect();
        Self {
            scope,
            revision,
            created_at,
            targeted,
            acked: acks.len() as u64,
            last_ack_ms,
            curve,
        }
    }

    /// The curve as a step chart with the targeted neurons as reference.
    pub fn chart(&self) -> crate::chart::ChartData {
        use crate::chart::{ChartData, Series, Unit};
        ChartData {
            x_labels: self.curve.iter().map(|(ms, _)| human_offset(*ms)).collect(),
            series: vec![Series {
                name: "acknowledged".into(),
                values: self.curve.iter().map(|(_, n)| Some(*n as f64)).collect(),
                band: vec![],
            }],
            unit: Unit::Count,
            reference: Some(("targeted".into(), self.targeted as f64)),
            steps: true,
        }
    }
}

/// "+250 ms", "+1.5 s", "+2 min 5 s" after a push.
fn human_offset(ms: i64) -> String {
    if ms < 1_000 {
        format!("+{ms} ms")
    } else if ms < 60_000 {
        let s = format!("{:.1}", ms as f64 / 1000.0);
        format!("+{} s", s.strip_suffix(".0").unwrap_or(&s))
    } else {
        format!("+{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spread_counts_acknowledgements_up_to_each_step() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let acks = [
            at + chrono::Duration::milliseconds(100),
            at + chrono::Duration::milliseconds(200),
            at + chrono::Duration::seconds(20),
        ];
        let spread = PushSpread::from_acks("global".into(), 3, at, 4, &acks);
        assert_eq!((spread.acked, spread.last_ack_ms), (3, Some(20_000)));
        let c = spread.chart();
        assert_eq!(c.x_labels.first().map(String::as_str), Some("+0 ms"));
        assert_eq!(c.x_labels.last().map(String::as_str), Some("+20 s"));
        let v = &c.series[0].values;
        assert_eq!(v[0], Some(0.0));
        assert_eq!(v[1], Some(2.0));
        assert_eq!(v[59], Some(2.0));
        assert_eq!(v[60], Some(3.0));
        assert_eq!(c.reference, Some(("targeted".into(), 4.0)));
        assert_eq!(human_offset(125_000), "+2 min 5 s");
    }

    #[test]
    fn config_reaches_a_browser_only_when_pushed_to_it_alone() {
        let bundle = |scope: &str, kind| Bundle {
            scope: scope.parse().unwrap(),
            revision: 1,
            kind,
            body: serde_json::json!({}),
            created_by: "u".into(),
            created_at: DateTime::<Utc>::default(),
            audience: Audience::default(),
            base_revision: None,
            overwrote: None,
        };
        assert!(!bundle("global", BundleKind::Config).reaches_browser("tab-1"));
        assert!(!bundle("tag:web", BundleKind::Config).reaches_browser("tab-1"));
        assert!(!bundle("neuron:tab-2", BundleKind::Config).reaches_browser("tab-1"));
        assert!(bundle("neuron:tab-1", BundleKind::Config).reaches_browser("tab-1"));
        for kind in [
            BundleKind::LayoutRules,
            BundleKind::Experiments,
            BundleKind::Offers,
        ] {
            assert!(bundle("global", kind).reaches_browser("tab-1"));
        }
    }

    #[test]
    fn scopes_round_trip_and_cover() {
        for s in ["global", "tag:eu", "neuron:shop-1"] {
            let scope: Scope = s.parse().unwrap();
            assert_eq!(scope.to_string(), s);
            assert_eq!(serde_json::to_value(&scope).unwrap(), serde_json::json!(s));
        }
        assert!("tag:".parse::<Scope>().is_err());
        assert!("planet:mars".parse::<Scope>().is_err());
        let tags = vec!["eu".to_string()];
        assert!(Scope::Tag("eu".into()).covers("a", &tags));
        assert!(!Scope::Tag("us".into()).covers("a", &tags));
        assert!(Scope::Neuron("a".into()).covers("a", &tags));
        assert!(Scope::Global.covers("b", &[]));
    }

    #[test]
    fn a_staged_audience_is_stable_and_grows_monotonically() {
        let scope = Scope::Global;
        let ids: Vec<String> = (0..2000).map(|i| format!("n-{i}")).collect();
        let count = |a: &Audience| ids.iter().filter(|id| a.includes(&scope, id, &[])).count();
        let ten = Audience {
            percent: Some(10),
            tags: vec![],
        };
        let fifty = Audience {
            percent: Some(50),
            tags: vec![],
        };
        assert!((150..250).contains(&count(&ten)), "{}", count(&ten));
        assert!((900..1100).contains(&count(&fifty)), "{}", count(&fifty));
        assert!(ids
            .iter()
            .filter(|id| ten.includes(&scope, id, &[]))
            .all(|id| fifty.includes(&scope, id, &[])));
        let canary = Audience {
            percent: None,
            tags: vec!["canary".into()],
        };
        assert!(canary.includes(&scope, "x", &["canary".into()]));
        assert!(!canary.includes(&scope, "x", &["stable".into()]));
        assert!(Audience::default().includes(&scope, "x", &[]));
        assert_eq!(
            Audience {
                percent: Some(10),
                tags: vec!["canary".into()]
            }
            .describe(),
            "tags canary + 10%"
        );
    }

    #[test]
    fn a_neuron_catches_up_on_the_latest_bundle_meant_for_it() {
        let b = |revision: u64, audience: Audience| Bundle {
            scope: Scope::Global,
            revision,
            kind: BundleKind::Config,
            body: serde_json::json!({"r": revision}),
            created_by: "t".into(),
            created_at: DateTime::from_timestamp(0, 0).unwrap(),
            audience,
            base_revision: None,
            overwrote: None,
        };
        let canary = Audience {
            percent: None,
            tags: vec!["canary".into()],
        };
        let missed = vec![b(4, Audience::default()), b(5, canary.clone())];
        assert_eq!(
            latest_for(missed.clone(), "n", &["stable".into()])[0].revision,
            4
        );
        assert_eq!(latest_for(missed, "n", &["canary".into()])[0].revision, 5);
    }
}
