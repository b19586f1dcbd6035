//! Where visitors click, per variant: the storefront reports each click with the cell it hit
//! inside the clicked module (a [`GRID`] × [`GRID`] grid over the module's box, as the click
//! event's `value`: row × GRID + column), so the hub stores no raw coordinates, only which
//! cell; the rule page draws the counts over the page's modules.

use serde::{Deserialize, Serialize};

use crate::layout::{Layout, Node};

/// Cells per side of a module's grid.
pub const GRID: usize = 10;
/// Cells per module.
pub const CELLS: usize = GRID * GRID;

/// The cell of a click at `(x, y)`, each the share (0 to 1) of the module's width and height
/// from its top left corner; `None` outside the box or for a value that is not a number.
pub fn cell_of(x: f64, y: f64) -> Option<u32> {
    if !(0.0..=1.0).contains(&x) || !(0.0..=1.0).contains(&y) {
        return None;
    }
    let at = |v: f64| ((v * GRID as f64) as usize).min(GRID - 1);
    Some((at(y) * GRID + at(x)) as u32)
}

/// Whether a click event's `value` is a cell (a whole number below [`CELLS`]).
pub fn is_cell(value: f64) -> bool {
    value.fract() == 0.0 && (0.0..CELLS as f64).contains(&value)
}

/// Clicks in one cell of one module, for one variant (empty: no variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CellCount {
    pub variant: String,
    pub node: String,
    pub cell: u32,
    pub count: u64,
}

/// One module's clicks: in all, and per cell (row by row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleHeat {
    pub node: String,
    /// The module's type.
    pub kind: String,
    pub clicks: u64,
    pub cells: Vec<u64>,
}

/// One variant's clicks over the page's modules, in the page's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantHeat {
    pub variant: String,
    pub clicks: u64,
    pub modules: Vec<ModuleHeat>,
}

/// Whether a scroll event's `value` is a depth (a whole percent, 0 to 100).
pub fn is_depth(value: f64) -> bool {
    value.fract() == 0.0 && (0.0..=100.0).contains(&value)
}

/// Page views of one variant whose deepest point seen was `depth` percent (rounded down to
/// a tenth: 0, 10, … 100).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepthCount {
    pub variant: String,
    pub depth: u32,
    pub count: u64,
}

/// The heatmap of a rule: per variant, and the largest cell count (the colour scale's top),
/// and how far its visitors scroll.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Heatmap {
    pub variants: Vec<VariantHeat>,
    pub max: u64,
    /// Per variant, the share of page views that saw at least 0 %, 10 %, … 100 % of the page.
    #[serde(default)]
    pub scroll: crate::chart::ChartData,
}

/// Per variant in `order` (that has any), the share of its page views that saw at least
/// each tenth of the page, from `counts` (page views per deepest tenth).
pub fn scroll_chart(counts: &[DepthCount], order: &[String]) -> crate::chart::ChartData {
    let tenths: Vec<u32> = (0..=10).map(|t| t * 10).collect();
    let series = order
        .iter()
        .filter_map(|variant| {
            let mine: Vec<&DepthCount> = counts
                .iter()
                .filter(|c| &c.variant == variant && c.depth <= 100)
                .collect();
            let views: u64 = mine.iter().map(|c| c.count).sum();
            (views > 0).then(|| crate::chart::Series {
                name: if variant.is_empty() {
                    "page views".into()
                } else {
                    variant.clone()
                },
                values: tenths
                    .iter()
                    .map(|&t| {
                        let reached: u64 =
                            mine.iter().filter(|c| c.depth >= t).map(|c| c.count).sum();
                        Some(reached as f64 / views as f64)
                    })
                    .collect(),
                band: Vec::new(),
            })
        })
        .collect();
    crate::chart::ChartData {
        x_labels: tenths.iter().map(|t| format!("{t} %")).collect(),
        series,
        unit: crate::chart::Unit::Percent,
        reference: None,
        steps: false,
    }
}

impl Heatmap {
    /// The heatmap of `counts` over `layout`'s top-level modules (a click inside a nested
    /// module counts for the top-level module around it), for the variants in `order`.
    pub fn of(counts: &[CellCount], layout: &Layout, order: &[String]) -> Heatmap {
        let modules: Vec<&Node> = layout.root.children.iter().collect();
        // Each node's top-level module, found once.
        let mut top: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, m) in modules.iter().enumerate() {
            each_id(m, &mut |id| {
                top.insert(id, i);
            });
        }
        let mut max = 0;
        // Only the rule's variants: counts of any other name are left out.
        let variants = order
            .iter()
            .map(|variant| {
                let mut grids = vec![vec![0u64; CELLS]; modules.len()];
                for c in counts.iter().filter(|c| &c.variant == variant) {
                    if let Some(x) = top
                        .get(c.node.as_str())
                        .and_then(|&m| grids[m].get_mut(c.cell as usize))
                    {
                        *x += c.count;
                    }
                }
                let modules: Vec<ModuleHeat> = modules
                    .iter()
                    .zip(grids)
                    .map(|(m, cells)| {
                        max = max.max(cells.iter().copied().max().unwrap_or(0));
                        ModuleHeat {
                            node: m.id.to_string(),
                            kind: m.kind.to_string(),
                            clicks: cells.iter().sum(),
                            cells,
                        }
                    })
                    .collect();
                VariantHeat {
                    clicks: modules.iter().map(|m| m.clicks).sum(),
                    variant: variant.clone(),
                    modules,
                }
            })
            .collect();
        Heatmap {
            variants,
            max,
            scroll: crate::chart::ChartData::default(),
        }
    }

    /// Whether any click was counted.
    pub fn is_empty(&self) -> bool {
        self.variants.iter().all(|v| v.clicks == 0)
    }
}

/// Calls `f` with the id of `n` and of every node inside it.
fn each_id<'a>(n: &'a Node, f: &mut impl FnMut(&'a str)) {
    f(n.id.as_str());
    for c in &n.children {
        each_id(c, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scroll_depth_is_the_share_that_saw_at_least_each_tenth() {
        assert!(is_depth(0.0) && is_depth(100.0) && is_depth(40.0));
        assert!(!is_depth(100.5) && !is_depth(-10.0) && !is_depth(101.0) && !is_depth(f64::NAN));
        let c = |variant: &str, depth: u32, count: u64| DepthCount {
            variant: variant.into(),
            depth,
            count,
        };
        let counts = [
            c("a", 100, 1),
            c("a", 50, 2),
            c("a", 0, 1),
            c("b", 30, 5),
            c("x", 90, 9),
        ];
        let chart = scroll_chart(&counts, &["a".into(), "b".into(), "none".into()]);
        assert_eq!(chart.x_labels.len(), 11);
        assert_eq!(
            chart.series.len(),
            2,
            "variants without page views are left out"
        );
        let a = &chart.series[0].values;
        assert_eq!(a[0], Some(1.0));
        assert_eq!(a[5], Some(0.75));
        assert_eq!(a[6], Some(0.25));
        assert_eq!(a[10], Some(0.25));
        let b = &chart.series[1].values;
        assert_eq!((b[3], b[4]), (Some(1.0), Some(0.0)));
    }

    #[test]
    fn clicks_fall_in_cells_row_by_row() {
        assert_eq!(cell_of(0.0, 0.0), Some(0));
        assert_eq!(cell_of(0.95, 0.0), Some(9));
        assert_eq!(cell_of(0.0, 0.15), Some(10));
        assert_eq!(cell_of(1.0, 1.0), Some(99), "the far edge is the last cell");
        assert_eq!(cell_of(1.2, 0.5), None);
        assert_eq!(cell_of(f64::NAN, 0.5), None);
        assert!(is_cell(0.0) && is_cell(99.0));
        assert!(!is_cell(100.0) && !is_cell(1.5) && !is_cell(-1.0) && !is_cell(f64::NAN));
    }

    #[test]
    fn counts_are_laid_over_the_page_per_variant() {
        let layout: Layout = serde_json::from_value(serde_json::json!({"pageSlug": "home", "root": {"id": "root", "type": "page", "children": [
            {"id": "hero", "type": "hero"},
            {"id": "grid", "type": "grid", "children": [{"id": "p1", "type": "product"}]}]}}))
        .unwrap();
        let c = |variant: &str, node: &str, cell: u32, count: u64| CellCount {
            variant: variant.into(),
            node: node.into(),
            cell,
            count,
        };
        let counts = vec![
            c("b", "hero", 0, 5),
            c("b", "p1", 99, 7),
            c("control", "hero", 0, 2),
        ];
        let h = Heatmap::of(
            &counts,
            &layout,
            &["control".into(), "b".into(), "c".into()],
        );
        assert_eq!(
            h.variants
                .iter()
                .map(|v| v.variant.as_str())
                .collect::<Vec<_>>(),
            ["control", "b", "c"]
        );
        assert_eq!(h.max, 7);
        let b = &h.variants[1];
        assert_eq!(b.clicks, 12);
        assert_eq!(b.modules[0].cells[0], 5);
        assert_eq!(
            (b.modules[1].node.as_str(), b.modules[1].cells[99]),
            ("grid", 7)
        );
        assert!(!h.is_empty());
        assert!(Heatmap::of(&[], &layout, &["a".into()]).is_empty());
    }
}
