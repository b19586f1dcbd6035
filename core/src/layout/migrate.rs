//! When a page's base layout changes, rules may point at nodes that no longer exist. This
//! finds those references and proposes re-links to nodes of the same type in a similar place.

use super::ops::Operation;
use super::{Layout, Node, NodeId};
use crate::mutation::{LayoutMutation, MutationPayload};
use serde::{Deserialize, Serialize};

/// A rule's reference to a node that the new layout does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BrokenReference {
    pub rule_id: String,
    /// Which field refers to it: `target`, `anchor` or `parent` (with the variant key for experiments).
    pub field: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub missing: NodeId,
    /// The suggested replacement, if a node of the same type exists.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub proposal: Option<NodeId>,
    /// Why that node (or why none).
    pub reason: String,
    /// It reads as a rename made by the last layout change: the node was in the layout just
    /// before, the proposal is new, has the same type and parent, and is the only node of
    /// that type there before and after; and the rule is of one page. Safe to apply without
    /// asking.
    #[serde(default)]
    pub unambiguous: bool,
    /// Every node of the missing one's type in the new layout (at most
    /// [`MAX_CANDIDATES`]), for an editor to choose from.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub candidates: Vec<NodeId>,
}

/// A copy of a page's base layout and its rules (the export format, `cortex import` reads
/// it), written before the layout is replaced, so the change can be undone whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LayoutBackup {
    pub id: String,
    pub page_slug: String,
    /// The layout version it holds (the one replaced).
    pub layout_version: u32,
    /// How many rules it holds.
    pub rules: u32,
    /// What replaced the layout: `save`, `import`.
    pub reason: String,
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The layout and rules (absent in lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<crate::rules::RuleSet>,
}

/// Backups kept per page: a new one drops the oldest beyond this.
pub const KEPT_BACKUPS: usize = 20;

/// Earlier layout versions a check looks a missing node up in.
pub const LOOKBACK_VERSIONS: u32 = 20;

/// Candidates listed per broken reference at most.
pub const MAX_CANDIDATES: usize = 50;

/// One page's rules checked against its newest base layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PageCheck {
    pub page_slug: String,
    /// The layout version checked against.
    pub layout_version: u32,
    /// How many rules of the page were checked.
    pub rules: usize,
    pub broken: Vec<BrokenReference>,
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
    broken_since(new, std::slice::from_ref(old), rules)
}

/// Like [`broken_references`], where the node a rule names is looked up in the newest of
/// `older` layouts (newest first) that has it: a rule may have been written against any
/// earlier version of its page.
pub fn broken_since(
    new: &Layout,
    older: &[Layout],
    rules: &[LayoutMutation],
) -> Vec<BrokenReference> {
    let older_places: Vec<Vec<Place<'_>>> = older.iter().map(|l| places(&l.root)).collect();
    let new_places = places(&new.root);
    let exists = |id: &NodeId| new_places.iter().any(|p| &p.node.id == id);
    let mut out = Vec::new();
    for rule in rules {
        let module = rule.module_id.as_ref().map(|m| NodeId::from(m.as_str()));
        let ops = operations(rule);
        let refs = module
            .iter()
            .map(|m| ("moduleId".to_string(), m))
            .chain(ops.iter().flat_map(|(field, op)| {
                references(op)
                    .into_iter()
                    .map(move |(name, id)| (format!("{field}{name}"), id))
            }));
        for (name, id) in refs {
            if exists(id) {
                continue;
            }
            // The newest earlier layout that has the node, and whether it is the one just
            // before (a rename in this change, not a node gone long ago).
            let was = older_places
                .iter()
                .enumerate()
                .find_map(|(i, ps)| ps.iter().find(|p| &p.node.id == id).map(|p| (i, ps, p)));
            out.push(match was {
                None => BrokenReference {
                    rule_id: rule.id.to_string(),
                    field: name,
                    missing: id.clone(),
                    proposal: None,
                    reason: "not in an earlier layout either".to_string(),
                    unambiguous: false,
                    candidates: Vec::new(),
                },
                Some((i, old, was)) => {
                    let mut b = propose(&new_places, was, rule, name);
                    // Applied without asking only when it reads as a rename made by this
                    // change: the node was in the layout just before, the proposal was not,
                    // that parent held one node of the type before and after, and the rule
                    // is of this page alone (a site-wide rule also runs on pages that may
                    // still have the old node).
                    let one_there = old
                        .iter()
                        .filter(|p| p.node.kind == was.node.kind && p.parent == was.parent)
                        .count()
                        == 1;
                    let new_node = b
                        .proposal
                        .as_ref()
                        .is_some_and(|to| old.iter().all(|p| &p.node.id != to));
                    b.unambiguous &= i == 0
                        && one_there
                        && new_node
                        && rule.layer != crate::mutation::Layer::Global;
                    b
                }
            });
        }
    }
    out
}

/// A rule's operations, each with the prefix its fields are named with (variants of an
/// experiment: `experiment.variants[KEY].`).
fn operations(rule: &LayoutMutation) -> Vec<(String, Operation)> {
    let mut ops = Vec::new();
    if let Some(op) = rule.payload.operation() {
        ops.push((String::new(), op));
    }
    if let (MutationPayload::Variant(_), Some(x)) = (&rule.payload, &rule.experiment) {
        for v in &x.variants {
            ops.extend(
                v.payload
                    .iter()
                    .map(|op| (format!("experiment.variants[{}].", v.key), op.clone())),
            );
        }
    }
    ops
}

fn propose(
    new_places: &[Place<'_>],
    was: &Place<'_>,
    rule: &LayoutMutation,
    field: String,
) -> BrokenReference {
    let same_kind: Vec<(usize, &Place<'_>)> = new_places
        .iter()
        .enumerate()
        .filter(|(_, p)| p.node.kind == was.node.kind)
        .collect();
    let same_parent = |p: &Place<'_>| p.parent.is_some() && p.parent == was.parent;
    let best = same_kind
        .iter()
        .max_by_key(|(order, p)| {
            // max_by_key keeps the last maximum; reverse the document order to prefer the first.
            (
                same_parent(p),
                p.index == was.index,
                p.depth == was.depth,
                std::cmp::Reverse(*order),
            )
        })
        .map(|(_, p)| p);
    let (proposal, reason, unambiguous) = match best {
        Some(p) => {
            let siblings = same_kind.iter().filter(|(_, q)| same_parent(q)).count();
            (
                Some(p.node.id.clone()),
                format!(
                    "same type `{}`{}{}{}",
                    was.node.kind,
                    if same_parent(p) { ", same parent" } else { "" },
                    if p.index == was.index {
                        ", same position"
                    } else {
                        ""
                    },
                    if same_parent(p) && siblings == 1 {
                        ", the only one there"
                    } else if same_parent(p) {
                        ""
                    } else {
                        ", another parent"
                    }
                ),
                same_parent(p) && siblings == 1,
            )
        }
        None => (
            None,
            format!("no node of type `{}` in the new layout", was.node.kind),
            false,
        ),
    };
    BrokenReference {
        rule_id: rule.id.to_string(),
        field,
        missing: was.node.id.clone(),
        proposal,
        reason,
        unambiguous,
        candidates: same_kind
            .iter()
            .take(MAX_CANDIDATES)
            .map(|(_, p)| p.node.id.clone())
            .collect(),
    }
}

/// `rule` with every reference to `from` (targets, anchors, parents, in every variant)
/// pointing at `to` instead.
pub fn relinked(rule: &LayoutMutation, from: &NodeId, to: &NodeId) -> LayoutMutation {
    let mut rule = rule.clone();
    let swap = |id: &mut NodeId| {
        if id == from {
            *id = to.clone();
        }
    };
    if rule.module_id.as_deref() == Some(from.as_str()) {
        rule.module_id = Some(to.as_str().to_string());
    }
    match &mut rule.payload {
        MutationPayload::Reorder(r) => {
            swap(&mut r.target);
            r.parent.iter_mut().for_each(swap);
        }
        MutationPayload::Insert(i) => swap(&mut i.anchor),
        MutationPayload::Replace(r) => swap(&mut r.target),
        MutationPayload::Hide(h) => swap(&mut h.target),
        MutationPayload::Props(p) => swap(&mut p.target),
        MutationPayload::Theme(t) => t.target.iter_mut().for_each(swap),
        MutationPayload::Variant(_) => {}
    }
    if let Some(x) = &mut rule.experiment {
        for op in x.variants.iter_mut().flat_map(|v| v.payload.iter_mut()) {
            match op {
                Operation::Reorder(r) => {
                    swap(&mut r.target);
                    r.parent.iter_mut().for_each(swap);
                }
                Operation::Insert(i) => swap(&mut i.anchor),
                Operation::Replace(r) => swap(&mut r.target),
                Operation::Hide(h) => swap(&mut h.target),
                Operation::Props(p) => swap(&mut p.target),
                Operation::Theme(t) => t.target.iter_mut().for_each(swap),
            }
        }
    }
    rule
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
        assert!(found[3].reason.contains("not in an earlier layout"));
        // The hero is the only one under the same parent: safe to re-link without asking;
        // two products under the grid: an editor chooses.
        let unambiguous: Vec<bool> = found.iter().map(|b| b.unambiguous).collect();
        assert_eq!(unambiguous, [true, false, false, false]);
        assert_eq!(
            found[1].candidates,
            [NodeId::from("sku-1"), NodeId::from("sku-2")]
        );
    }

    #[test]
    fn a_rule_is_looked_up_in_the_newest_earlier_layout_that_has_its_node() {
        let v1 = layout(json!({"id": "root", "type": "page", "children": [
            {"id": "side", "type": "aside", "children": [{"id": "ad", "type": "banner"}]}
        ]}));
        let v2 = layout(json!({"id": "root", "type": "page", "children": [
            {"id": "side", "type": "aside", "children": [{"id": "ad-2", "type": "banner"}]}
        ]}));
        let v3 = layout(json!({"id": "root", "type": "page", "children": [
            {"id": "side", "type": "aside", "children": [{"id": "ad-3", "type": "banner"}]},
            {"id": "foot", "type": "banner"}
        ]}));
        // Written against v1 (`ad`) and against v2 (`ad-2`): both found, both under `side`.
        let rules = vec![
            rule("old", "hide", json!({"target": "ad"})),
            rule("mid", "props", json!({"target": "ad-2", "patch": {"x": 1}})),
        ];
        let found = broken_since(&v3, &[v2, v1], &rules);
        let got: Vec<(&str, Option<&str>, bool)> = found
            .iter()
            .map(|b| {
                (
                    b.missing.as_str(),
                    b.proposal.as_ref().map(|p| p.as_str()),
                    b.unambiguous,
                )
            })
            .collect();
        // `ad-2` was renamed by this change; `ad` was gone before it: an editor says.
        assert_eq!(
            got,
            [("ad", Some("ad-3"), false), ("ad-2", Some("ad-3"), true)]
        );
        assert_eq!(found[0].candidates.len(), 2, "both banners may be chosen");
    }

    #[test]
    fn only_a_rename_by_the_last_change_is_relinked_without_asking() {
        let before = layout(json!({"id": "root", "type": "page", "children": [
            {"id": "grid", "type": "grid", "children": [{"id": "p1", "type": "product"}, {"id": "p2", "type": "product"}]},
            {"id": "nav", "type": "nav"}
        ]}));
        // p2 deleted, p1 kept: the rule on p2 must not turn into a rule on p1.
        let deleted = layout(json!({"id": "root", "type": "page", "children": [
            {"id": "grid", "type": "grid", "children": [{"id": "p1", "type": "product"}]},
            {"id": "nav-2", "type": "nav"}
        ]}));
        let mut site_wide = rule("g", "hide", json!({"target": "nav"}));
        site_wide.layer = crate::mutation::Layer::Global;
        let rules = vec![rule("r", "hide", json!({"target": "p2"})), site_wide];
        let found = broken_references(&before, &deleted, &rules);
        assert_eq!(found[0].proposal.as_ref().map(|p| p.as_str()), Some("p1"));
        assert!(!found[0].unambiguous, "p1 is no new node");
        // The nav was renamed, but a site-wide rule also runs on pages that may keep `nav`.
        assert_eq!(
            found[1].proposal.as_ref().map(|p| p.as_str()),
            Some("nav-2")
        );
        assert!(!found[1].unambiguous);
    }

    #[test]
    fn relinking_changes_every_reference_to_the_node_and_nothing_else() {
        let r = rule(
            "m",
            "reorder",
            json!({"target": "a", "parent": "a", "index": 1}),
        );
        let moved = relinked(&r, &NodeId::from("a"), &NodeId::from("b"));
        let MutationPayload::Reorder(p) = &moved.payload else {
            panic!("still a reorder")
        };
        assert_eq!(
            (p.target.as_str(), p.parent.as_ref().map(|x| x.as_str())),
            ("b", Some("b"))
        );
        assert_eq!((moved.id.as_str(), p.index), ("m", 1));
        let untouched = relinked(&r, &NodeId::from("z"), &NodeId::from("b"));
        assert_eq!(untouched, r);
    }
}
