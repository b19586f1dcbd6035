//! Typed ids: a neuron's id, a rule's id, a page's slug and a rule-set revision are different things
//! even where each is a string or a number, so they are different types. Each is
//! serde-transparent (the same JSON as the bare value) and reads as a `&str` (or `u64`)
//! wherever one is wanted.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Hashes and compares as its string, so maps keyed by it can be read with a `&str`.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_string())
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                Self(id.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

string_id!(
    /// A neuron's id, as it registers (`a-z 0-9 . _ -`, 1 to 64 characters).
    NeuronId
);

string_id!(
    /// A layout mutation rule's id (1 to 100 letters, digits, `-` or `_`).
    RuleId
);

string_id!(
    /// A page's slug: which page a layout is the base of and a rule changes.
    PageSlug
);

/// A revision of the rule set: every change to a rule or a base layout takes the next one,
/// so a neuron that holds revision N can be sent exactly what changed after it. 0: none yet.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = u64))]
#[serde(transparent)]
pub struct Revision(pub u64);

impl Revision {
    /// Before the first change.
    pub const NONE: Revision = Revision(0);

    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u64> for Revision {
    fn from(n: u64) -> Self {
        Self(n)
    }
}

impl From<Revision> for u64 {
    fn from(r: Revision) -> u64 {
        r.0
    }
}

impl PartialEq<u64> for Revision {
    fn eq(&self, other: &u64) -> bool {
        self.0 == *other
    }
}

impl PartialOrd<u64> for Revision {
    fn partial_cmp(&self, other: &u64) -> Option<std::cmp::Ordering> {
        self.0.partial_cmp(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_the_same_json_and_reads_as_a_str() {
        let id = NeuronId::from("shop-eu-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"shop-eu-1\"");
        assert_eq!(
            serde_json::from_str::<NeuronId>("\"shop-eu-1\"").unwrap(),
            id
        );
        assert_eq!(id, "shop-eu-1");
        assert!(id.starts_with("shop"));
        let mut by_id = std::collections::HashMap::new();
        by_id.insert(id.clone(), 1);
        assert_eq!(by_id.get("shop-eu-1"), Some(&1));
        assert_eq!(id.to_string(), "shop-eu-1");
        let r = Revision(7);
        assert_eq!(serde_json::to_string(&r).unwrap(), "7");
        assert!(r > 6 && r == 7 && Revision::NONE < r);
    }
}
