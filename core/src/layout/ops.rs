//! Layout operations and their undos.

use super::{Node, NodeId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Where an inserted node goes relative to its anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Position {
    Before,
    After,
    /// As the anchor's first child.
    FirstChild,
    /// As the anchor's last child.
    LastChild,
}

/// Moves `target` to `index` among the children of `parent` (default: its current parent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reorder {
    pub target: NodeId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<NodeId>,
    pub index: usize,
}

/// Inserts `node` (with its children) next to or inside `anchor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Insert {
    pub anchor: NodeId,
    pub position: Position,
    pub node: Node,
}

/// Replaces `target` and everything below it with `node`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replace {
    pub target: NodeId,
    pub node: Node,
}

/// Hides `target` (it stays in the tree, unrendered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hide {
    pub target: NodeId,
}

/// Applies a JSON merge patch (RFC 7396) to `target`'s props.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Props {
    pub target: NodeId,
    pub patch: Value,
}

/// Sets a theme name and/or design tokens on `target` (default: the root, i.e. the page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Theme {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<NodeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub tokens: Map<String, Value>,
}

/// One change to a layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Operation {
    Reorder(Reorder),
    Insert(Insert),
    Replace(Replace),
    Hide(Hide),
    Props(Props),
    Theme(Theme),
}

/// The kind of an operation, for conflict detection and traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OpKind {
    Reorder,
    Insert,
    Replace,
    Hide,
    Props,
    Theme,
}

/// Why an operation was skipped. The tree is unchanged when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", content = "node", rename_all = "camelCase")]
pub enum Skip {
    #[error("target node `{0}` is missing")]
    MissingTarget(NodeId),
    #[error("node id `{0}` already exists")]
    DuplicateId(NodeId),
    #[error("moving `{0}` there would put it inside itself")]
    Cycle(NodeId),
    #[error("the root node `{0}` cannot be moved, hidden or given siblings")]
    Root(NodeId),
    #[error("mutations are switched off for node `{0}`")]
    Locked(NodeId),
}

/// Restores the tree after an operation. Applied in reverse order, undos give back the base.
#[derive(Debug, Clone, PartialEq)]
pub enum Undo {
    /// Put a node back at (parent, index), removing it from wherever it is.
    Move {
        node: NodeId,
        parent: NodeId,
        index: usize,
    },
    /// Remove an inserted node.
    Remove { node: NodeId },
    /// Put the replaced subtree back in place of the replacement.
    Restore {
        replacement: NodeId,
        original: Box<Node>,
    },
    /// Restore a node's hidden flag.
    Hidden { node: NodeId, was: bool },
    /// Put back the top-level props a change touched, as they were (`None`: absent). Only
    /// these: an undo holding the whole document would make the next change to the same
    /// node copy all of it again.
    PropKeys {
        node: NodeId,
        was: Vec<(String, Option<Value>)>,
    },
    /// Restore a node's whole props (after a patch that replaced them).
    Props { node: NodeId, props: super::Props },
}

impl Operation {
    /// The node this operation changes (its anchor for inserts; the root for page themes).
    pub fn target<'a>(&'a self, root: &'a NodeId) -> &'a NodeId {
        match self {
            Operation::Reorder(Reorder { target, .. })
            | Operation::Replace(Replace { target, .. })
            | Operation::Hide(Hide { target })
            | Operation::Props(Props { target, .. }) => target,
            Operation::Insert(Insert { anchor, .. }) => anchor,
            Operation::Theme(Theme { target, .. }) => target.as_ref().unwrap_or(root),
        }
    }

    /// What kind of operation this is.
    pub fn kind(&self) -> OpKind {
        match self {
            Operation::Reorder(_) => OpKind::Reorder,
            Operation::Insert(_) => OpKind::Insert,
            Operation::Replace(_) => OpKind::Replace,
            Operation::Hide(_) => OpKind::Hide,
            Operation::Props(_) => OpKind::Props,
            Operation::Theme(_) => OpKind::Theme,
        }
    }

    /// The nodes this operation changes or puts something into (each must be unlocked).
    fn touched<'a>(&'a self, root: &'a NodeId) -> [Option<&'a NodeId>; 2] {
        match self {
            Operation::Reorder(Reorder { target, parent, .. }) => [Some(target), parent.as_ref()],
            other => [Some(other.target(root)), None],
        }
    }

    /// Applies to `root`, or leaves it untouched and says why not.
    pub fn apply(&self, root: &mut Node) -> Result<Undo, Skip> {
        let locks = root.has_locks();
        self.apply_in(root, locks)
    }

    /// [`Operation::apply`] for a caller that knows whether the tree has locks (the resolver
    /// asks once per page view, not once per operation). Locks are rare: they are looked
    /// for only in a tree that has some.
    pub fn apply_in(&self, root: &mut Node, locks: bool) -> Result<Undo, Skip> {
        self.check_locks(root, locks)?;
        self.apply_unlocked(root)
    }

    /// [`Operation::apply_in`] without recording how to undo it, for a change that is never
    /// reverted: a props patch then copies none of the values it replaces.
    pub fn apply_only(&self, root: &mut Node, locks: bool) -> Result<(), Skip> {
        match self {
            Operation::Props(Props {
                target,
                patch: Value::Object(patch),
            }) => {
                self.check_locks(root, locks)?;
                let n =
                    find_mut(root, target).ok_or_else(|| Skip::MissingTarget(target.clone()))?;
                merge_patch_map(Arc::make_mut(&mut n.props), patch);
                Ok(())
            }
            _ => self.apply_in(root, locks).map(drop),
        }
    }

    /// Refuses an operation on a locked node (looked for only when the tree has locks).
    fn check_locks(&self, root: &Node, locks: bool) -> Result<(), Skip> {
        if locks {
            for id in self.touched(&root.id).into_iter().flatten() {
                if root.locked_at(id) == Some(true) {
                    return Err(Skip::Locked(id.clone()));
                }
            }
        }
        Ok(())
    }

    fn apply_unlocked(&self, root: &mut Node) -> Result<Undo, Skip> {
        let missing = |id: &NodeId| Skip::MissingTarget(id.clone());
        match self {
            Operation::Hide(Hide { target }) => {
                if *target == root.id {
                    return Err(Skip::Root(target.clone()));
                }
                let n = find_mut(root, target).ok_or_else(|| missing(target))?;
                let was = std::mem::replace(&mut n.hidden, true);
                Ok(Undo::Hidden {
                    node: target.clone(),
                    was,
                })
            }
            Operation::Props(Props { target, patch }) => {
                let n = find_mut(root, target).ok_or_else(|| missing(target))?;
                match patch {
                    Value::Object(patch) => {
                        let was = props_as_they_were(&n.props, patch.keys().map(String::as_str));
                        merge_patch_map(Arc::make_mut(&mut n.props), patch);
                        Ok(Undo::PropKeys {
                            node: target.clone(),
                            was,
                        })
                    }
                    // A non-object patch replaces the whole document; props stay an object.
                    _ => Ok(Undo::Props {
                        node: target.clone(),
                        props: std::mem::take(&mut n.props),
                    }),
                }
            }
            Operation::Theme(Theme {
                target,
                theme,
                tokens,
            }) => {
                let id = target.as_ref().unwrap_or(&root.id).clone();
                let n = find_mut(root, &id).ok_or_else(|| missing(&id))?;
                let touched = [
                    theme.is_some().then_some("theme"),
                    (!tokens.is_empty()).then_some("themeTokens"),
                ];
                let was = props_as_they_were(&n.props, touched.into_iter().flatten());
                let props = Arc::make_mut(&mut n.props);
                if let Some(t) = theme {
                    props.insert("theme".into(), Value::String(t.clone()));
                }
                if !tokens.is_empty() {
                    let entry = props
                        .entry("themeTokens")
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !entry.is_object() {
                        *entry = Value::Object(Map::new());
                    }
                    if let Value::Object(m) = entry {
                        m.extend(tokens.clone());
                    }
                }
                Ok(Undo::PropKeys { node: id, was })
            }
            Operation::Insert(Insert {
                anchor,
                position,
                node,
            }) => {
                let incoming: Vec<&NodeId> = node.walk().map(|n| &n.id).collect();
                if let Some(dup) = first_duplicate(&incoming) {
                    return Err(Skip::DuplicateId(dup));
                }
                if let Some(dup) = root.walk().find(|n| incoming.contains(&&n.id)) {
                    return Err(Skip::DuplicateId(dup.id.clone()));
                }
                let (parent, index) = match position {
                    Position::FirstChild | Position::LastChild => {
                        let a = find_mut(root, anchor).ok_or_else(|| missing(anchor))?;
                        let i = if *position == Position::FirstChild {
                            0
                        } else {
                            a.children.len()
                        };
                        (a, i)
                    }
                    Position::Before | Position::After => {
                        if *anchor == root.id {
                            return Err(Skip::Root(anchor.clone()));
                        }
                        let (p, i) = locate_mut(root, anchor).ok_or_else(|| missing(anchor))?;
                        (p, i + usize::from(*position == Position::After))
                    }
                };
                parent.children.insert(index, node.clone());
                Ok(Undo::Remove {
                    node: node.id.clone(),
                })
            }
            Operation::Replace(Replace { target, node }) => {
                let original = root.find(target).ok_or_else(|| missing(target))?;
                let incoming: Vec<&NodeId> = node.walk().map(|n| &n.id).collect();
                if let Some(dup) = first_duplicate(&incoming) {
                    return Err(Skip::DuplicateId(dup));
                }
                // An incoming id may reuse one from the subtree it replaces, not any other.
                if let Some(dup) = root
                    .walk()
                    .find(|n| incoming.contains(&&n.id) && original.find(&n.id).is_none())
                {
                    return Err(Skip::DuplicateId(dup.id.clone()));
                }
                let slot = find_mut(root, target).ok_or_else(|| missing(target))?;
                let original = std::mem::replace(slot, node.clone());
                Ok(Undo::Restore {
                    replacement: node.id.clone(),
                    original: Box::new(original),
                })
            }
            Operation::Reorder(Reorder {
                target,
                parent: None,
                index,
            }) => {
                // Among its siblings: one walk finds the parent, nothing else can go wrong.
                if *target == root.id {
                    return Err(Skip::Root(target.clone()));
                }
                let (p, from) = locate_mut(root, target).ok_or_else(|| missing(target))?;
                let moved = p.children.remove(from);
                let at = (*index).min(p.children.len());
                p.children.insert(at, moved);
                Ok(Undo::Move {
                    node: target.clone(),
                    parent: p.id.clone(),
                    index: from,
                })
            }
            Operation::Reorder(Reorder {
                target,
                parent: Some(to_parent),
                index,
            }) => {
                if *target == root.id {
                    return Err(Skip::Root(target.clone()));
                }
                let t = root.find(target).ok_or_else(|| missing(target))?;
                if t.find(to_parent).is_some() {
                    return Err(Skip::Cycle(target.clone()));
                }
                if root.find(to_parent).is_none() {
                    return Err(missing(to_parent));
                }
                let (p, from) = locate_mut(root, target).ok_or_else(|| missing(target))?;
                let from_parent = p.id.clone();
                let moved = p.children.remove(from);
                let dest = find_mut(root, to_parent).ok_or_else(|| missing(to_parent))?;
                let at = (*index).min(dest.children.len());
                dest.children.insert(at, moved);
                Ok(Undo::Move {
                    node: target.clone(),
                    parent: from_parent,
                    index: from,
                })
            }
        }
    }
}

/// The values of `keys` in `props` (`None`: absent), for an [`Undo::PropKeys`].
fn props_as_they_were<'k>(
    props: &Map<String, Value>,
    keys: impl Iterator<Item = &'k str>,
) -> Vec<(String, Option<Value>)> {
    keys.map(|k| (k.to_string(), props.get(k).cloned()))
        .collect()
}

impl Undo {
    /// Reverts the operation that produced this undo.
    pub fn revert(self, root: &mut Node) {
        match self {
            Undo::Move {
                node,
                parent,
                index,
            } => {
                if let Some(n) = detach(root, &node) {
                    if let Some(p) = find_mut(root, &parent) {
                        let at = index.min(p.children.len());
                        p.children.insert(at, n);
                    }
                }
            }
            Undo::Remove { node } => {
                detach(root, &node);
            }
            Undo::Restore {
                replacement,
                original,
            } => {
                if let Some(slot) = find_mut(root, &replacement) {
                    *slot = *original;
                }
            }
            Undo::Hidden { node, was } => {
                if let Some(n) = find_mut(root, &node) {
                    n.hidden = was;
                }
            }
            Undo::PropKeys { node, was } => {
                if let Some(n) = find_mut(root, &node) {
                    let props = Arc::make_mut(&mut n.props);
                    for (key, value) in was {
                        match value {
                            Some(v) => props.insert(key, v),
                            None => props.remove(&key),
                        };
                    }
                }
            }
            Undo::Props { node, props } => {
                if let Some(n) = find_mut(root, &node) {
                    n.props = props;
                }
            }
        }
    }
}

/// RFC 7396 JSON merge patch: objects merge recursively, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                merge_patch_map(t, p);
            }
        }
        other => *target = other.clone(),
    }
}

/// [`merge_patch`] of an object patch into an object.
pub fn merge_patch_map(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        if v.is_null() {
            target.remove(k);
        } else if let Some(slot) = target.get_mut(k) {
            merge_patch(slot, v);
        } else {
            let mut fresh = Value::Null;
            merge_patch(&mut fresh, v);
            target.insert(k.clone(), fresh);
        }
    }
}

fn first_duplicate(ids: &[&NodeId]) -> Option<NodeId> {
    let mut seen = std::collections::HashSet::new();
    ids.iter()
        .find(|id| !seen.insert(**id))
        .map(|id| (*id).clone())
}

/// The node with `id`, mutably.
pub fn find_mut<'a>(node: &'a mut Node, id: &NodeId) -> Option<&'a mut Node> {
    if node.id == *id {
        return Some(node);
    }
    node.children.iter_mut().find_map(|c| find_mut(c, id))
}

/// The parent of the node with `id`, mutably, and the node's index in it.
fn locate_mut<'a>(node: &'a mut Node, id: &NodeId) -> Option<(&'a mut Node, usize)> {
    match node.children.iter().position(|c| c.id == *id) {
        Some(i) => Some((node, i)),
        None => node.children.iter_mut().find_map(|c| locate_mut(c, id)),
    }
}

/// Removes and returns the node with `id` (never the root).
fn detach(node: &mut Node, id: &NodeId) -> Option<Node> {
    if let Some(i) = node.children.iter().position(|c| c.id == *id) {
        return Some(node.children.remove(i));
    }
    node.children.iter_mut().find_map(|c| detach(c, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page() -> Node {
        Node::new("root", "page")
            .with_child(Node::new("hero", "hero"))
            .with_child(
                Node::new("grid", "product-grid")
                    .with_child(Node::new("p1", "product"))
                    .with_child(Node::new("p2", "product")),
            )
            .with_child(Node::new("footer", "footer"))
    }

    fn ids(n: &Node) -> Vec<String> {
        n.walk().map(|n| n.id.to_string()).collect()
    }

    #[test]
    fn every_operation_reverts_exactly() {
        let ops = vec![
            Operation::Reorder(Reorder {
                target: "footer".into(),
                parent: None,
                index: 0,
            }),
            Operation::Reorder(Reorder {
                target: "p2".into(),
                parent: Some("root".into()),
                index: 1,
            }),
            Operation::Insert(Insert {
                anchor: "hero".into(),
                position: Position::After,
                node: Node::new("banner", "offer-banner"),
            }),
            Operation::Insert(Insert {
                anchor: "grid".into(),
                position: Position::FirstChild,
                node: Node::new("p0", "product"),
            }),
            Operation::Replace(Replace {
                target: "hero".into(),
                node: Node::new("hero-b", "hero"),
            }),
            Operation::Hide(Hide {
                target: "p1".into(),
            }),
            Operation::Props(Props {
                target: "grid".into(),
                patch: json!({"columns": 3, "title": null}),
            }),
            Operation::Theme(Theme {
                target: None,
                theme: Some("dark".into()),
                tokens: Map::from_iter([("accent".into(), json!("#f60"))]),
            }),
        ];
        for op in ops {
            let mut tree = page();
            let undo = op
                .apply(&mut tree)
                .unwrap_or_else(|e| panic!("{op:?}: {e}"));
            assert_ne!(tree, page(), "{op:?} changed nothing");
            undo.revert(&mut tree);
            assert_eq!(tree, page(), "{op:?} did not revert");
        }
    }

    #[test]
    fn impossible_operations_are_skipped_and_change_nothing() {
        let cases = vec![
            (
                Operation::Hide(Hide {
                    target: "ghost".into(),
                }),
                Skip::MissingTarget("ghost".into()),
            ),
            (
                Operation::Hide(Hide {
                    target: "root".into(),
                }),
                Skip::Root("root".into()),
            ),
            (
                Operation::Insert(Insert {
                    anchor: "hero".into(),
                    position: Position::After,
                    node: Node::new("p1", "x"),
                }),
                Skip::DuplicateId("p1".into()),
            ),
            (
                Operation::Reorder(Reorder {
                    target: "grid".into(),
                    parent: Some("p1".into()),
                    index: 0,
                }),
                Skip::Cycle("grid".into()),
            ),
            (
                Operation::Reorder(Reorder {
                    target: "grid".into(),
                    parent: Some("nowhere".into()),
                    index: 0,
                }),
                Skip::MissingTarget("nowhere".into()),
            ),
            (
                Operation::Replace(Replace {
                    target: "grid".into(),
                    node: Node::new("hero", "x"),
                }),
                Skip::DuplicateId("hero".into()),
            ),
        ];
        for (op, want) in cases {
            let mut tree = page();
            assert_eq!(op.apply(&mut tree).unwrap_err(), want);
            assert_eq!(tree, page());
        }
    }

    #[test]
    fn locked_nodes_and_what_is_inside_them_are_not_mutated() {
        let mut root = page();
        let grid = find_mut(&mut root, &"grid".into()).unwrap();
        grid.locked = true;
        let before = root.clone();
        let p1: NodeId = "p1".into();
        for op in [
            Operation::Hide(Hide {
                target: "grid".into(),
            }),
            Operation::Hide(Hide { target: p1.clone() }),
            Operation::Reorder(Reorder {
                target: "hero".into(),
                parent: Some("grid".into()),
                index: 0,
            }),
        ] {
            assert!(
                matches!(op.apply(&mut root), Err(Skip::Locked(_))),
                "{op:?}"
            );
            assert_eq!(root, before);
        }
        // Elsewhere on the page, rules still apply.
        assert!(Operation::Hide(Hide {
            target: "hero".into()
        })
        .apply(&mut root)
        .is_ok());
        // A locked root switches the whole page off, page themes included.
        let mut root = page();
        root.locked = true;
        let theme = Operation::Theme(Theme {
            target: None,
            theme: Some("night".into()),
            tokens: Default::default(),
        });
        assert!(matches!(theme.apply(&mut root), Err(Skip::Locked(_))));
        assert_eq!(root.locked_at(&"hero".into()), Some(true));
        assert_eq!(page().locked_at(&"hero".into()), Some(false));
        assert_eq!(page().locked_at(&"ghost".into()), None);
    }

    #[test]
    fn replace_may_reuse_ids_from_the_replaced_subtree() {
        let mut tree = page();
        Operation::Replace(Replace {
            target: "grid".into(),
            node: Node::new("grid", "carousel").with_child(Node::new("p1", "product")),
        })
        .apply(&mut tree)
        .unwrap();
        assert_eq!(ids(&tree), ["root", "hero", "grid", "p1", "footer"]);
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut v = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut v, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(v, json!({"a": "z", "c": {"d": "e"}}));
        let mut v = json!({"a": [1, 2]});
        merge_patch(&mut v, &json!({"a": [3]}));
        assert_eq!(v, json!({"a": [3]}));
    }

    #[test]
    fn operations_round_trip_through_json() {
        let op = Operation::Reorder(Reorder {
            target: "a".into(),
            parent: Some("b".into()),
            index: 2,
        });
        let text = serde_json::to_string(&op).unwrap();
        assert_eq!(
            text,
            r#"{"op":"reorder","target":"a","parent":"b","index":2}"#
        );
        assert_eq!(serde_json::from_str::<Operation>(&text).unwrap(), op);
    }
}
