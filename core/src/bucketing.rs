//! Deterministic variant assignment, identical to GrowthBook's: FNV-1a 32-bit over UTF-16
//! code units, hash versions 1 and 2, bucket ranges from coverage and weights.
//!
//! The same (seed, unit id) always lands in the same bucket on the server, in the browser
//! and in every neuron, and a Cortex experiment can be checked against GrowthBook's.

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a state, fed UTF-16 code units as JavaScript's `charCodeAt` yields them.
#[derive(Clone, Copy)]
struct Fnv(u32);

impl Fnv {
    fn new() -> Self {
        Fnv(FNV_OFFSET)
    }
    fn feed(mut self, s: &str) -> Self {
        if s.is_ascii() {
            for b in s.bytes() {
                self.0 = (self.0 ^ u32::from(b)).wrapping_mul(FNV_PRIME);
            }
        } else {
            for unit in s.encode_utf16() {
                self.0 = (self.0 ^ u32::from(unit)).wrapping_mul(FNV_PRIME);
            }
        }
        self
    }
}

/// FNV-1a 32-bit of a string's UTF-16 code units.
pub fn fnv1a32(s: &str) -> u32 {
    Fnv::new().feed(s).0
}

/// A hash version GrowthBook defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum HashVersion {
    /// `fnv(value + seed) % 1000 / 1000` (original, slightly biased).
    V1,
    /// `fnv(fnv(seed + value) as decimal) % 10000 / 10000` (unbiased).
    V2,
}

impl TryFrom<u8> for HashVersion {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            1 => Ok(HashVersion::V1),
            2 => Ok(HashVersion::V2),
            other => Err(format!("unknown hash version {other}: use 1 or 2")),
        }
    }
}

impl From<HashVersion> for u8 {
    fn from(v: HashVersion) -> u8 {
        match v {
            HashVersion::V1 => 1,
            HashVersion::V2 => 2,
        }
    }
}

/// The bucket of `value` for `seed`, in `[0, 1)`. Does not allocate.
pub fn hash(seed: &str, value: &str, version: HashVersion) -> f64 {
    match version {
        HashVersion::V1 => f64::from(Fnv::new().feed(value).feed(seed).0 % 1000) / 1000.0,
        HashVersion::V2 => {
            let inner = Fnv::new().feed(seed).feed(value).0;
            let mut buf = [0u8; 10];
            let digits = decimal(inner, &mut buf);
            let mut outer = Fnv::new();
            for &b in digits {
                outer.0 = (outer.0 ^ u32::from(b)).wrapping_mul(FNV_PRIME);
            }
            f64::from(outer.0 % 10000) / 10000.0
        }
    }
}

/// `n` as decimal ASCII digits in `buf`.
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// `[start, end)` of one variant's share of the bucket space.
pub type Range = (f64, f64);

/// Ranges for `n` variants: coverage is clamped to `[0, 1]`; weights default to equal and
/// fall back to equal when their count is wrong or they do not sum to 1 (±0.01).
pub fn bucket_ranges(n: usize, coverage: Option<f64>, weights: Option<&[f64]>) -> Vec<Range> {
    let coverage = coverage.unwrap_or(1.0).clamp(0.0, 1.0);
    let equal = vec![1.0 / n as f64; n];
    let weights = match weights {
        Some(w) if w.len() == n => {
            let total: f64 = w.iter().sum();
            if (0.99..=1.01).contains(&total) {
                w.to_vec()
            } else {
                equal
            }
        }
        _ => equal,
    };
    let mut cumulative = 0.0;
    weights
        .iter()
        .map(|w| {
            let start = cumulative;
            cumulative += w;
            (start, start + coverage * w)
        })
        .collect()
}

/// The variant whose range holds `bucket`, if any.
pub fn choose_variant(bucket: f64, ranges: &[Range]) -> Option<usize> {
    ranges
        .iter()
        .position(|&(start, end)| bucket >= start && bucket < end)
}

/// A slice of a namespace (GrowthBook's `namespace: [id, start, end]`): experiments whose
/// slices of the same namespace do not overlap are mutually exclusive, since a visitor's
/// place in a namespace is one hash of the namespace's id, whatever the experiment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(from = "(String, f64, f64)", into = "(String, f64, f64)")]
pub struct Namespace {
    pub id: String,
    /// `[start, end)` of the namespace this experiment takes, within `[0, 1]`.
    pub start: f64,
    pub end: f64,
}

impl From<(String, f64, f64)> for Namespace {
    fn from((id, start, end): (String, f64, f64)) -> Self {
        Namespace { id, start, end }
    }
}

impl From<Namespace> for (String, f64, f64) {
    fn from(n: Namespace) -> Self {
        (n.id, n.start, n.end)
    }
}

/// Longest namespace id.
pub const MAX_NAMESPACE_ID: usize = 64;

impl Namespace {
    /// Whether the unit `value` falls in this slice: GrowthBook's `inNamespace`, the
    /// version 1 hash of `value` with the seed `__<id>`.
    pub fn contains(&self, value: &str) -> bool {
        let n = hash(&format!("__{}", self.id), value, HashVersion::V1);
        n >= self.start && n < self.end
    }

    /// Whether two slices of the same namespace share visitors.
    pub fn overlaps(&self, other: &Namespace) -> bool {
        self.id == other.id && self.start < other.end && other.start < self.end
    }

    /// A readable `[id, start, end)`.
    pub fn describe(&self) -> String {
        format!("`{}` [{}, {})", self.id, self.start, self.end)
    }

    /// Why the slice cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.id.trim().is_empty() || self.id.chars().count() > MAX_NAMESPACE_ID {
            return Err(format!("the id: 1 to {MAX_NAMESPACE_ID} characters"));
        }
        if !(self.start.is_finite() && self.end.is_finite())
            || self.start < 0.0
            || self.end > 1.0
            || self.start >= self.end
        {
            return Err(format!(
                "start and end must satisfy 0 <= start < end <= 1 (got {} and {})",
                self.start, self.end
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_published_test_vectors() {
        // FNV-1a 32-bit reference values.
        assert_eq!(fnv1a32(""), 0x811c9dc5);
        assert_eq!(fnv1a32("a"), 0xe40c292c);
        assert_eq!(fnv1a32("foobar"), 0xbf9cf968);
    }

    #[test]
    fn hashes_non_ascii_by_utf16_units() {
        // "é" is one UTF-16 unit (0xE9), not two UTF-8 bytes.
        let by_units = (FNV_OFFSET ^ 0xE9).wrapping_mul(FNV_PRIME);
        assert_eq!(fnv1a32("é"), by_units);
        // An astral character is a surrogate pair: two units.
        assert_eq!("😀".encode_utf16().count(), 2);
        let pair = "😀".encode_utf16().fold(FNV_OFFSET, |h, u| {
            (h ^ u32::from(u)).wrapping_mul(FNV_PRIME)
        });
        assert_eq!(fnv1a32("😀"), pair);
    }

    #[test]
    fn decimal_digits() {
        let mut b = [0u8; 10];
        assert_eq!(decimal(0, &mut b), b"0");
        assert_eq!(decimal(u32::MAX, &mut b), b"4294967295");
    }

    #[test]
    fn namespaces_are_written_as_growthbook_writes_them() {
        let n: Namespace = serde_json::from_str(r#"["checkout", 0, 0.5]"#).unwrap();
        assert_eq!(n.id, "checkout");
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            r#"["checkout",0.0,0.5]"#
        );
        assert!(n.check().is_ok());
        let other = Namespace {
            id: "checkout".into(),
            start: 0.5,
            end: 1.0,
        };
        assert!(!n.overlaps(&other), "touching slices do not overlap");
        let third = Namespace {
            id: "checkout".into(),
            start: 0.4,
            end: 0.6,
        };
        assert!(n.overlaps(&third) && third.overlaps(&other));
        let elsewhere = Namespace {
            id: "search".into(),
            ..third.clone()
        };
        assert!(!n.overlaps(&elsewhere));
        for bad in [
            (0.5, 0.5),
            (-0.1, 0.5),
            (0.2, 1.1),
            (0.6, 0.4),
            (f64::NAN, 1.0),
        ] {
            let b = Namespace {
                id: "x".into(),
                start: bad.0,
                end: bad.1,
            };
            assert!(b.check().is_err(), "{bad:?}");
        }
        assert!(Namespace {
            id: " ".into(),
            start: 0.0,
            end: 1.0
        }
        .check()
        .is_err());
    }

    #[test]
    fn two_halves_of_a_namespace_split_every_visitor_once() {
        let a = Namespace {
            id: "ns".into(),
            start: 0.0,
            end: 0.5,
        };
        let b = Namespace {
            id: "ns".into(),
            start: 0.5,
            end: 1.0,
        };
        let mut in_a = 0;
        for i in 0..2_000 {
            let unit = format!("visitor-{i}");
            assert!(a.contains(&unit) != b.contains(&unit), "{unit}");
            in_a += usize::from(a.contains(&unit));
        }
        assert!(
            (900..1100).contains(&in_a),
            "{in_a} of 2000 in the first half"
        );
    }

    #[test]
    fn unknown_hash_versions_are_refused() {
        assert!(serde_json::from_str::<HashVersion>("3").is_err());
        assert_eq!(
            serde_json::from_str::<HashVersion>("2").unwrap(),
            HashVersion::V2
        );
    }
}
