//! The experiment in the rule form: its variants' keys, weights and changes.

use super::*;

pub(super) fn experiment(f: &RuleForm, rule_id: &str, node: &str) -> Result<Value, String> {
    let mut rows = Vec::new();
    for i in 0..VARIANT_ROWS {
        let (n, v) = (i + 1, f.variant(i));
        let Some(key) = given(v.key) else {
            if given(v.weight).is_some() || given(v.value).is_some() {
                return Err(format!("v{n}_key: name this variant"));
            }
            continue;
        };
        let weight = given(v.weight)
            .map(|w| percent(&format!("v{n}_weight"), w))
            .transpose()?;
        let payload = change(&format!("v{n}_value"), v.op.trim(), v.value, node)?;
        rows.push((n, key, weight, payload));
    }
    if rows.len() < 2 {
        return Err("v2_key: an experiment needs at least two variants".into());
    }
    let mut keys = std::collections::HashSet::new();
    if let Some((n, key, ..)) = rows.iter().find(|(_, k, ..)| !keys.insert(*k)) {
        return Err(format!("v{n}_key: `{key}` is used twice"));
    }
    let weights: Vec<f64> = if rows.iter().all(|r| r.2.is_none()) {
        vec![1.0 / rows.len() as f64; rows.len()]
    } else {
        let mut w = Vec::new();
        for (n, _, weight, _) in &rows {
            w.push(
                weight.ok_or(format!(
                    "v{n}_weight: give every variant a weight, or none for equal weights"
                ))? / 100.0,
            );
        }
        let sum: f64 = w.iter().sum();
        if (sum - 1.0).abs() > 1e-6 {
            return Err(format!(
                "v1_weight: the weights add up to {:.2} %, not 100 %",
                sum * 100.0
            ));
        }
        w
    };
    let variants: Vec<Value> = rows
        .into_iter()
        .zip(weights)
        .map(|((_, key, _, payload), weight)| {
            let mut v = json!({"key": key, "weight": weight});
            if !payload.is_empty() {
                v["payload"] = payload.into();
            }
            v
        })
        .collect();
    let mut e = json!({"key": given(&f.experiment).unwrap_or(rule_id), "variants": variants});
    if let Some(c) = given(&f.coverage) {
        e["coverage"] = json!(percent("coverage", c)? / 100.0);
    }
    if let Some(h) = given(&f.hash_attribute) {
        e["hashAttribute"] = h.into();
    }
    Ok(e)
}

pub(super) fn weight_text(w: f64) -> String {
    let s = format!("{:.4}", w * 100.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
