//! When a page's base layout changes, rules may point at nodes that no longer exist. This
//! finds those references and proposes re-links to nodes of the same type in a similar place.

use super::ops::Operation;
use super::{Layout, Node, NodeId};
use crate::mutation::{LayoutMutation, MutationPayload};
use serde::{Deserialize, Serialize};

/// A rule's reference to a node that the new layout does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokenReference {
    pub rule_id: String,
    /// Which field refers to it: `target`, `anchor` or `parent` (with the variant key for experiments).
    pub field: String,
    pub missing: NodeId,
    /// The suggested replacement, if a node of the same type exists.
    pub proposal: Option<NodeId>,
    /// Why that node (or why none).
    pub reason: String,
}

struct Place<'a> {
    node: &'a Node,
    parent: Option<&'a NodeId>,
    index: usize,
    depth: usize,
}

fn places(root: &Node) -> Vec<Place<'_>> {
    fn go<'a>(
        n: &'a Node,
        parent: Option<&'a NodeId>,
        index: usize,
        depth: usize,
        out: &mut Vec<Place<'a>>,
    ) {
        out.push(Place {
            node: n,
            parent,
            index,
            depth,
        });
        for (i, c) in n.children.iter().enumerate() {
            go(c, Some(&n.id), i, depth + 1, out);
        }
    }
    let mut out = Vec::new();
    go(root, None, 0, 0, &mut out);
    out
}

fn references(op: &Operation) -> Vec<(&'static str, &NodeId)> {
    match op {
        Operation::Reorder(r) => {
            let mut v = vec![("target", &r.target)];
            if let Some(p) = &r.parent {
                v.push(("parent", p));
            }
            v
        }
        Operation::Insert(i) => vec![("anchor", &i.anchor)],
        Operation::Replace(r) => vec![("target", &r.target)],
        Operation::Hide(h) => vec![("target", &h.target)],
        Operation::Props(p) => vec![("target", &p.target)],
        Operation::Theme(t) => t.target.iter().map(|id| ("target", id)).collect(),
    }
}

/// Lists every reference in `rules` to a node missing from `new`, with a proposed re-link:
/// a node of the same type, preferring the same parent, then the same position among its
/// siblings, then the same depth; ties go to the first in document order.
pub fn broken_references(
    old: &Layout,
    new: &Layout,
    rules: &[LayoutMutation],
) -> Vec<BrokenReference> {
    let old_places = places(&old.root);
    let new_places = places(&new.root);
    let exists = |id: &NodeId| new_places.iter().any(|p| &p.node.id == id);
    let mut out = Vec::new();
    for rule in rules {
        let mut ops: Vec<(String, &Operation)> = Vec::new();
        let single = rule.payload.operation();
        if let Some(op) = &single {
            ops.push((String::new(), op));
        }
        if let (MutationPayload::Variant(_), Some(x)) = (&rule.payload, &rule.experiment) {
            for v in &x.variants {
                ops.extend(
                    v.payload
                        .iter()
                        .map(|op| (format!("experiment.variants[{}].", v.key), op)),
                );
            }
        }
        for (prefix, op) in ops {
            for (field, id) in references(op) {
                if exists(id) {
                    continue;
                }
                let (proposal, reason) = match old_places.iter().find(|p| &p.node.id == id) {
                    None => (None, "not in the old layout either".to_string()),
                    Some(was) => {
                        let best = new_places
                            .iter()
                            .enumerate()
                            .filter(|(_, p)| p.node.kind == was.node.kind)
                            .max_by_key(|(order, p)| {
                                let same_parent = p.parent.is_some() && p.parent == was.parent;
                                // max_by_key keeps the last maximum; reverse the document order to prefer the first.
                                (
                                    same_parent,
                                    p.index == was.index,
                                    p.depth == was.depth,
                                    std::cmp::Reverse(*order),
                                )
                            })
                            .map(|(_, p)| p);
                        match best {
                            Some(p) => (
                                Some(p.node.id.clone()),
                                format!(
                                    "same type `{}`{}{}",
                                    was.node.kind,
                                    if p.parent.is_some() && p.parent == was.parent {
                                        ", same parent"
                                    } else {
                                        ""
                                    },
                                    if p.index == was.index {
                                        ", same position"
                                    } else {
                                        ""
                                    }
                                ),
                            ),
                            None => (
                                None,
                                format!("no node of type `{}` in the new layout", was.node.kind),
                            ),
                        }
                    }
                };
                out.push(BrokenReference {
                    rule_id: rule.id.to_string(),
                    field: format!("{prefix}{field}"),
                    missing: id.clone(),
                    proposal,
                    reason,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layout(v: serde_json::Value) -> Layout {
        serde_json::from_value(json!({"pageSlug": "home", "root": v})).unwrap()
    }

    fn rule(id: &str, mtype: &str, payload: serde_json::Value) -> LayoutMutation {
        serde_json::from_value(json!({
            "id": id, "layoutId": "l", "pageSlug": "home", "mutationType": mtype, "mutationPayload": payload,
            "createdBy": "u", "timestamp": "2026-11-25T00:00:00Z", "isActive": true, "layer": "page"
        }))
        .unwrap()
    }

    #[test]
    fn finds_broken_targets_and_proposes_relinks_by_type_and_place() {
        let old = layout(json!({"id": "root", "type": "page", "children": [
            {"id": "hero", "type": "hero"},
            {"id": "grid", "type": "grid", "children": [{"id": "p1", "type": "product"}, {"id": "p2", "type": "product"}]},
            {"id": "legal", "type": "footer"}
        ]}));
        let new = layout(json!({"id": "root", "type": "page", "children": [
            {"id": "hero-2026", "type": "hero"},
            {"id": "grid", "type": "grid", "children": [{"id": "sku-1", "type": "product"}, {"id": "sku-2", "type": "product"}]},
            {"id": "promo", "type": "banner"}
        ]}));
        let rules = vec![
            rule("a", "props", json!({"target": "hero", "patch": {}})),
            rule("b", "hide", json!({"target": "p2"})),
            rule(
                "c",
                "insert",
                json!({"anchor": "legal", "position": "before", "node": {"id": "x", "type": "t"}}),
            ),
            rule("d", "hide", json!({"target": "ghost"})),
            rule("e", "hide", json!({"target": "grid"})),
        ];
        let found = broken_references(&old, &new, &rules);
        let summary: Vec<(&str, &str, Option<&str>)> = found
            .iter()
            .map(|b| {
                (
                    b.rule_id.as_str(),
                    b.field.as_str(),
                    b.proposal.as_ref().map(|p| p.as_str()),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("a", "target", Some("hero-2026")),
                ("b", "target", Some("sku-2")),
                ("c", "anchor", None),
                ("d", "target", None)
            ]
        );
        assert!(
            found[1].reason.contains("same parent") && found[1].reason.contains("same position"),
            "{}",
            found[1].reason
        );
        assert!(found[2].reason.contains("no node of type `footer`"));
        assert!(found[3].reason.contains("not in the old layout"));
    }
}
