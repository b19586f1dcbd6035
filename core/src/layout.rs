//! Layouts: a tree of nodes `{id, type, props, children}` per page, and the operations that
//! rewrite it. Every operation checks before it changes anything, so an operation that
//! cannot apply leaves the tree untouched and says why; every applied operation returns
//! the undo that restores the tree exactly.

pub mod migrate;
pub mod ops;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// Identifies a node within a layout. Shared, not copied: resolving a page clones the base
/// layout per request, and ids, types and props are reference-counted so that clone costs
/// a few counter increments per node. An id carries a hash of its text, so the lookups that
/// every operation makes compare one integer per node instead of two strings.
#[derive(Clone)]
pub struct NodeId {
    hash: u64,
    text: Arc<str>,
}

impl NodeId {
    pub fn new(text: &str) -> Self {
        // FNV-1a, 64 bit: fast on short ids, and only ever a filter before comparing text.
        let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        NodeId {
            hash,
            text: text.into(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for NodeId {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.text == other.text
    }
}

impl Eq for NodeId {}

impl std::hash::Hash for NodeId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialOrd for NodeId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NodeId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl std::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.text, f)
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        NodeId::new(s)
    }
}

impl From<String> for NodeId {
    fn from(s: String) -> Self {
        NodeId::new(&s)
    }
}

impl Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = NodeId;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a node id (string)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NodeId, E> {
                Ok(NodeId::new(v))
            }
        }
        d.deserialize_str(Visit)
    }
}

/// A node's props, shared until changed ([`Arc::make_mut`] copies on first write).
pub type Props = Arc<Map<String, Value>>;

fn no_props(p: &Props) -> bool {
    p.is_empty()
}

/// One node: a module instance (`type` names the registered module) with its props.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    #[serde(rename = "type")]
    pub kind: Arc<str>,
    #[serde(default, skip_serializing_if = "no_props")]
    pub props: Props,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
    /// Hidden nodes stay in the tree (nothing is lost) but are not rendered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// Mutations are switched off for this node and everything inside it: no rule changes,
    /// moves, hides or replaces it, inserts next to or into it. Locking the root switches
    /// mutations off for the whole page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub locked: bool,
}

impl Node {
    /// A node with no props or children.
    pub fn new(id: &str, kind: &str) -> Self {
        Node {
            id: id.into(),
            kind: kind.into(),
            props: Props::default(),
            children: Vec::new(),
            hidden: false,
            locked: false,
        }
    }

    /// Adds a child (builder style).
    pub fn with_child(mut self, child: Node) -> Self {
        self.children.push(child);
        self
    }

    /// This node and all below it, depth first (an explicit stack: no allocation per node).
    pub fn walk(&self) -> Walk<'_> {
        Walk { stack: vec![self] }
    }

    /// Ids of this node and everything below it.
    pub fn ids(&self) -> HashSet<&NodeId> {
        self.walk().map(|n| &n.id).collect()
    }

    /// The node with `id`, if it is this node or below it.
    pub fn find(&self, id: &NodeId) -> Option<&Node> {
        self.walk().find(|n| &n.id == id)
    }

    /// Whether node `id` is locked, by itself or by a node around it (`None`: not here).
    pub fn locked_at(&self, id: &NodeId) -> Option<bool> {
        fn go(n: &Node, id: &NodeId, outer: bool) -> Option<bool> {
            let locked = outer || n.locked;
            if &n.id == id {
                return Some(locked);
            }
            n.children.iter().find_map(|c| go(c, id, locked))
        }
        go(self, id, false)
    }

    /// Any node of this subtree is locked.
    pub fn has_locks(&self) -> bool {
        self.walk().any(|n| n.locked)
    }
}

/// Depth-first iterator over a subtree; see [`Node::walk`].
pub struct Walk<'a> {
    stack: Vec<&'a Node>,
}

impl<'a> Iterator for Walk<'a> {
    type Item = &'a Node;
    fn next(&mut self) -> Option<&'a Node> {
        let n = self.stack.pop()?;
        self.stack.extend(n.children.iter().rev());
        Some(n)
    }
}

/// The base layout of one page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Layout {
    pub page_slug: crate::ids::PageSlug,
    #[serde(default)]
    pub version: u32,
    pub root: Node,
}

/// A problem with a layout's structure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("node id `{0}` appears more than once")]
    DuplicateId(NodeId),
    #[error("a node has an empty id")]
    EmptyId,
    /// A link prop with an unsafe scheme (`javascript:` and the like).
    #[error("{path}: {}", crate::urls::unsafe_url_message(url))]
    UnsafeUrl { path: String, url: String },
}

impl Layout {
    /// Checks that ids are unique and non-empty.
    pub fn validate(&self) -> Result<(), LayoutError> {
        let mut seen = HashSet::new();
        for n in self.root.walk() {
            if n.id.as_str().is_empty() {
                return Err(LayoutError::EmptyId);
            }
            if !seen.insert(&n.id) {
                return Err(LayoutError::DuplicateId(n.id.clone()));
            }
            crate::urls::check_value(
                &format!("node `{}` props", n.id),
                &Value::Object((*n.props).clone()),
            )
            .map_err(|(path, url)| LayoutError::UnsafeUrl { path, url })?;
        }
        Ok(())
    }
}
