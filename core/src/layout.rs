//! Layouts: a tree of nodes `{id, type, props, children}` per page, and the operations that
//! rewrite it. Every operation checks before it changes anything, so an operation that
//! cannot apply leaves the tree untouched and says why; every applied operation returns
//! the undo that restores the tree exactly.

pub mod migrate;
pub mod ops;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Identifies a node within a layout.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        NodeId(s.to_string())
    }
}

/// One node: a module instance (`type` names the registered module) with its props.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub props: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
    /// Hidden nodes stay in the tree (nothing is lost) but are not rendered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
}

impl Node {
    /// A node with no props or children.
    pub fn new(id: &str, kind: &str) -> Self {
        Node {
            id: id.into(),
            kind: kind.into(),
            props: Map::new(),
            children: Vec::new(),
            hidden: false,
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
    pub page_slug: String,
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
}

impl Layout {
    /// Checks that ids are unique and non-empty.
    pub fn validate(&self) -> Result<(), LayoutError> {
        let mut seen = HashSet::new();
        for n in self.root.walk() {
            if n.id.0.is_empty() {
                return Err(LayoutError::EmptyId);
            }
            if !seen.insert(&n.id) {
                return Err(LayoutError::DuplicateId(n.id.clone()));
            }
        }
        Ok(())
    }
}
