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
    if let Some(id) = given(&f.namespace) {
        let from = given(&f.ns_from).map_or(Ok(0.0), |v| percent("ns_from", v))? / 100.0;
        let to = given(&f.ns_to).map_or(Ok(100.0), |v| percent("ns_to", v))? / 100.0;
        let slice = cortex_core::bucketing::Namespace {
            id: id.into(),
            start: from,
            end: to,
        };
        slice.check().map_err(|m| format!("ns_from: {m}"))?;
        e["namespace"] = serde_json::to_value(slice).map_err(|e| e.to_string())?;
    } else if given(&f.ns_from).is_some() || given(&f.ns_to).is_some() {
        return Err("namespace: name the namespace the slice is of".into());
    }
    match given(&f.allocation) {
        None | Some("fixed") => {
            if given(&f.bandit_floor).is_some() {
                return Err("allocation: a least share is for a bandit".into());
            }
        }
        Some("bandit") => {
            let mut b = cortex_core::stats::bandit::Bandit::default();
            if let Some(floor) = given(&f.bandit_floor) {
                b.floor = percent("bandit_floor", floor)? / 100.0;
            }
            let arms = e["variants"].as_array().map_or(0, Vec::len);
            b.check(arms)
                .map_err(|(_, m)| format!("bandit_floor: {m}"))?;
            e["bandit"] = serde_json::to_value(b).map_err(|e| e.to_string())?;
        }
        Some(_) => return Err("allocation: fixed or bandit".into()),
    }
    Ok(e)
}

/// The namespace and allocation fields of an experiment.
pub(super) fn fill_allocation(f: &mut RuleForm, e: &cortex_core::mutation::Experiment) {
    if let Some(n) = &e.namespace {
        f.namespace = n.id.clone();
        f.ns_from = weight_text(n.start);
        f.ns_to = weight_text(n.end);
    }
    if let Some(b) = &e.bandit {
        // Other interval and burn-in settings than the defaults are not the form's: the
        // rule is then edited as JSON.
        f.allocation = "bandit".into();
        f.bandit_floor = weight_text(b.floor);
    }
}

/// The decision policy from its fields; `None` when all are empty (the default policy).
pub(super) fn policy(f: &RuleForm) -> Result<Option<Value>, String> {
    use cortex_core::stats::decision::{Metric, Policy};
    let fields = [
        &f.decide,
        &f.goal,
        &f.guardrail,
        &f.min_days,
        &f.min_units,
        &f.alpha,
    ];
    if fields.iter().all(|v| given(v).is_none()) {
        return Ok(None);
    }
    let mut p = Policy::default();
    if let Some(m) = given(&f.decide) {
        p.mode = serde_json::from_value(json!(m)).map_err(|_| "decide: manual or auto")?;
    }
    let metric = |field: &str, name: &str| {
        Metric::parse(name).ok_or_else(|| {
            let names: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
            format!("{field}: one of {}", names.join(", "))
        })
    };
    if let Some(g) = given(&f.goal) {
        p.goal = metric("goal", g)?;
    }
    match given(&f.guardrail) {
        None => {}
        Some("none") => p.guardrails.clear(),
        Some(g) => p.guardrails = vec![metric("guardrail", g)?],
    }
    if let Some(d) = given(&f.min_days) {
        p.min_days = d.parse().map_err(|_| "min_days: a whole number of days")?;
    }
    if let Some(u) = given(&f.min_units) {
        p.min_units_per_arm = u
            .parse()
            .map_err(|_| "min_units: a whole number of visitors")?;
    }
    if let Some(a) = given(&f.alpha) {
        p.alpha = a.parse().map_err(|_| "alpha: a number such as 0.05")?;
    }
    // Defaults that no longer fit (the goal became the guardrail): drop the guardrail.
    if given(&f.guardrail).is_none() {
        p.guardrails.retain(|g| *g != p.goal);
    }
    p.check().map_err(|(field, message)| {
        let name = match field {
            "minUnitsPerArm" => "min_units",
            "minDays" => "min_days",
            "guardrails" => "guardrail",
            other => other,
        };
        format!("{name}: {message}")
    })?;
    Ok(Some(serde_json::to_value(p).map_err(|e| e.to_string())?))
}

/// The policy's fields, every one filled (so the form gives back exactly this policy).
pub(super) fn fill_policy(f: &mut RuleForm, p: &cortex_core::stats::decision::Policy) {
    f.decide = p.mode_str().into();
    f.goal = p.goal.as_str().into();
    f.guardrail = match p.guardrails.as_slice() {
        [] => "none".into(),
        [g] => g.as_str().into(),
        // More than the form shows: left empty, so the form does not match and the rule is
        // edited as JSON.
        _ => String::new(),
    };
    f.min_days = p.min_days.to_string();
    f.min_units = p.min_units_per_arm.to_string();
    f.alpha = p.alpha.to_string();
}

pub(super) fn weight_text(w: f64) -> String {
    let s = format!("{:.4}", w * 100.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
