//! `/admin/layout-mutations/:id`: one rule. Its status with switches (on/off, delete or
//! restore), its impact per variant with intervals, the JSON editor, and every version with
//! what changed and a button that rolls back to it. Every form works without JavaScript.

use leptos::prelude::*;

use crate::help::Help;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::layouts::{
    layout_pages, rule_detail, DecideRule, DiffLine, HistoryEntry, RollbackRule, RuleDetail,
    SaveRule, SetRuleActive, SetRuleDeleted, UndoDecision, UpdateRule,
};
use crate::components::chart::LineChart;
use crate::components::{
    error_message, fmt_time, textarea_text, ActionError, ErrorBox, FormError, Loading, BUTTON, CARD,
};
use crate::pages::rule_form::RuleFields;
use cortex_core::report::{Estimate, LayoutReport};

const SMALL: &str = "rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50";

fn pct(e: &Estimate) -> String {
    format!(
        "{:.1} % ({:.1}–{:.1})",
        e.value * 100.0,
        e.low * 100.0,
        e.high * 100.0
    )
}

/// The rule page.
#[component]
pub fn RulePage() -> impl IntoView {
    let params = use_params_map();
    let save = ServerAction::<SaveRule>::new();
    let update = ServerAction::<UpdateRule>::new();
    let rollback = ServerAction::<RollbackRule>::new();
    let active = ServerAction::<SetRuleActive>::new();
    let deleted = ServerAction::<SetRuleDeleted>::new();
    let decide = ServerAction::<DecideRule>::new();
    let undo = ServerAction::<UndoDecision>::new();
    let detail = Resource::new(
        move || {
            (
                params.with(|p| p.get("id")),
                save.version().get(),
                update.version().get(),
                rollback.version().get(),
                active.version().get(),
                deleted.version().get(),
                decide.version().get(),
                undo.version().get(),
            )
        },
        |(id, ..)| rule_detail(id),
    );
    // The target picker's pages, loaded beside the rule (one suspense, no nested one).
    let pages = Resource::new(|| (), |_| layout_pages());
    // What the last create or save did: from the action (hydrated) or from the address a
    // form post without JavaScript was sent back to.
    let query = use_query_map();
    let notice = move || {
        let saved = |v: Option<Result<cortex_core::rules::RuleVersion, crate::error::AppError>>| {
            v.and_then(Result::ok)
                .map(|v| format!("Saved: version {} is now the newest.", v.rule.version))
        };
        saved(update.value().get())
            .or_else(|| saved(save.value().get()))
            .or_else(|| {
                query.with(|q| {
                    if q.get("created").is_some() {
                        Some("Rule created.".to_string())
                    } else {
                        q.get("saved")
                            .and_then(|v| v.parse::<u32>().ok())
                            .map(|v| format!("Saved: version {v} is now the newest."))
                    }
                })
            })
            .map(|text| view! {
                <p class="mt-3 rounded-md border border-emerald-300 bg-emerald-50 px-4 py-2 text-sm text-emerald-900" role="status" id="rule-notice">{text}</p>
            })
    };
    view! {
        <Title text="Layout mutation"/>
        <p class="text-sm"><a class="text-indigo-700 underline" href="/admin/layout-mutations">"← All rules"</a></p>
        {notice}
        <ActionError action=rollback/>
        <ActionError action=active/>
        <ActionError action=deleted/>
        <ActionError action=decide/>
        <ActionError action=undo/>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match (detail.await, pages.await) {
                    (Err(e), _) | (_, Err(e)) => view! { <div class="mt-6"><ErrorBox error=e/></div> }.into_any(),
                    (Ok(d), Ok(pages)) => view! { <Rule detail=d pages save update rollback active deleted decide undo/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Rule(
    detail: RuleDetail,
    pages: Vec<crate::api::layouts::PageNodes>,
    save: ServerAction<SaveRule>,
    update: ServerAction<UpdateRule>,
    rollback: ServerAction<RollbackRule>,
    active: ServerAction<SetRuleActive>,
    deleted: ServerAction<SetRuleDeleted>,
    decide: ServerAction<DecideRule>,
    undo: ServerAction<UndoDecision>,
) -> impl IntoView {
    let status = detail.row.status();
    let rule = detail.row.version.rule.clone();
    let is_deleted = detail.row.version.deleted;
    let id = rule.id.to_string();
    let id2 = rule.id.to_string();
    let json = serde_json::to_string_pretty(&rule).unwrap_or_default();
    let head = rule.version;
    view! {
        <div class="mt-2 flex flex-wrap items-center gap-3">
            <h1 class="font-mono text-2xl font-bold" id="rule-id">{rule.id.to_string()}</h1>
            <span class="rounded bg-slate-100 px-2 py-0.5 text-xs font-medium" id="rule-status" data-status=status>{status}</span>
        </div>
        <p class="mt-1 text-sm text-slate-600">
            {format!("{} rule on page ", rule.mutation_type())}
            <a class="text-indigo-700 underline" href=format!("/shop/{}", rule.page_slug)>{rule.page_slug.to_string()}</a>
            {format!(", layer {}, priority {}, version {} by {} at {}", rule.layer.as_str(), rule.priority, rule.version, rule.created_by, fmt_time(rule.timestamp))}
        </p>
        {detail.row.broken.clone().map(|why| view! { <p class="mt-2 rounded bg-red-50 px-3 py-2 text-sm text-red-800" id="rule-broken">"Broken, skipped at runtime: " {why}</p> })}
        <div class="mt-4 flex flex-wrap gap-2" id="rule-actions">
            {(!is_deleted).then(move || view! {
                <ActionForm action=active>
                    <input type="hidden" name="id" value=id/>
                    <input type="hidden" name="active" value=(!rule.is_active).to_string()/>
                    <button type="submit" class=SMALL id="toggle-active">{if rule.is_active { "Switch off" } else { "Switch on" }}</button>
                </ActionForm>
            })}
            <ActionForm action=deleted>
                <input type="hidden" name="id" value=id2/>
                <input type="hidden" name="deleted" value=(!is_deleted).to_string()/>
                <button type="submit" class=SMALL id="toggle-deleted">{if is_deleted { "Restore" } else { "Delete" }}</button>
            </ActionForm>
        </div>
        <Impact report=detail.report.clone() rule=rule.clone()/>
        <Clicks heatmap=detail.heatmap.clone()/>
        {rule.experiment.clone().map(|x| view! { <Decisions experiment=x rule=rule.clone() suggestion=detail.decision.clone() decide undo/> })}
        {rule.experiment.clone().filter(|x| x.bandit.is_some() || x.namespace.is_some()).map(|x| view! { <Allocation experiment=x/> })}
        {rule.guard.clone().map(|g| view! { <GuardSection guard=g status=detail.guard.clone()/> })}
        <RuleFormEditor form=detail.form.clone() pages update/>
        <section class=format!("{CARD} mt-6") id="rule-editor">
            <h2 class="text-lg font-semibold">"Edit as JSON"</h2>
            <Help key="rule-json" class="mt-1 text-sm text-slate-600"/>
            <ActionForm action=save>
                <textarea name="rule" rows="18" aria-label="The rule as JSON" class="mt-2 w-full rounded-md border border-slate-300 p-2 font-mono text-xs" spellcheck="false" prop:value=json.clone()>{textarea_text(&json)}</textarea>
                <FormError action=save/>
                <button type="submit" class=format!("{BUTTON} mt-3") id="save-rule">"Save as a new version"</button>
            </ActionForm>
        </section>
        <section class=format!("{CARD} mt-6") id="rule-history">
            <h2 class="text-lg font-semibold">"History"</h2>
            <ol class="mt-2 space-y-4">
                {detail.history.into_iter().map(|h| view! { <Version entry=h head rollback/> }).collect_view()}
            </ol>
        </section>
    }
}

/// The rule form, filled from the rule; or a note when the form cannot show all of it.
#[component]
fn RuleFormEditor(
    form: Option<crate::rule_form::RuleForm>,
    pages: Vec<crate::api::layouts::PageNodes>,
    update: ServerAction<UpdateRule>,
) -> impl IntoView {
    view! {
        <section class=format!("{CARD} mt-6") id="rule-form">
            <h2 class="text-lg font-semibold">"Edit"</h2>
            {match form {
                None => view! {
                    <Help key="rule-json-only" class="mt-1 text-sm text-slate-600" id="rule-form-json-only"/>
                }.into_any(),
                Some(form) => view! {
                    <Help key="rule-form" class="mt-1 text-sm text-slate-600"/>
                    <ActionForm action=update>
                        <RuleFields pages initial=form editing=true error=error_message(update)/>
                        <FormError action=update/>
                        <button type="submit" class=format!("{BUTTON} mt-3") id="update-rule">"Save as a new version"</button>
                    </ActionForm>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Version(entry: HistoryEntry, head: u32, rollback: ServerAction<RollbackRule>) -> impl IntoView {
    let v = entry.version;
    let n = v.rule.version;
    let what = match (v.rule.rollback_pointer, v.deleted) {
        (_, true) => "deleted".to_string(),
        (Some(p), _) => format!("replaced version {p}"),
        (None, _) => "first version".to_string(),
    };
    view! {
        <li class="border-t border-slate-100 pt-3" data-version=n.to_string()>
            <div class="flex flex-wrap items-center gap-3 text-sm">
                <span class="font-semibold">{format!("Version {n}")}</span>
                <span class="text-slate-600">{format!("{} · {} · {} · revision {}", v.rule.created_by, fmt_time(v.rule.timestamp), what, v.revision)}</span>
                {(n != head).then(|| view! {
                    <ActionForm action=rollback>
                        <input type="hidden" name="id" value=v.rule.id.to_string()/>
                        <input type="hidden" name="version" value=n.to_string()/>
                        <button type="submit" class=SMALL data-rollback=n.to_string()>{format!("Roll back to version {n}")}</button>
                    </ActionForm>
                })}
            </div>
            {(!entry.diff.is_empty()).then(|| view! { <Diff lines=entry.diff/> })}
        </li>
    }
}

#[component]
fn Diff(lines: Vec<DiffLine>) -> impl IntoView {
    view! {
        <pre class="mt-2 overflow-x-auto rounded bg-slate-50 p-2 text-xs leading-5" tabindex="0">
            {lines.into_iter().map(|l| {
                let class = match l.tag.as_str() {
                    "+" => "block bg-emerald-100 text-emerald-900",
                    "-" => "block bg-red-100 text-red-900",
                    "…" => "block text-slate-400",
                    _ => "block text-slate-600",
                };
                view! { <span class=class data-diff=l.tag.clone()>{format!("{} {}", l.tag, l.text)}</span> }
            }).collect_view()}
        </pre>
    }
}

/// The experiment's decisions: its policy, what the engine suggests now (an editor can
/// carry it out), and every decision taken with its evidence; the newest, if it wrote the
/// current version, can be undone.
#[component]
fn Decisions(
    experiment: cortex_core::mutation::Experiment,
    rule: cortex_core::mutation::LayoutMutation,
    suggestion: Option<cortex_core::mutation::Decision>,
    decide: ServerAction<DecideRule>,
    undo: ServerAction<UndoDecision>,
) -> impl IntoView {
    use cortex_core::stats::decision::Mode;
    let policy = experiment.policy();
    let guardrails = if policy.guardrails.is_empty() {
        "none".to_string()
    } else {
        policy
            .guardrails
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mode = match policy.mode {
        Mode::Auto => "automatic: Cortex promotes a winner and switches losers off by itself",
        Mode::Manual => "manual: Cortex suggests, an editor decides",
    };
    let policy_text = format!(
        "Policy: {mode}. Goal {}; guardrails {guardrails}. Sequential test at α {}, Holm-corrected across variants; at least {} days and {} visitors per variant.",
        policy.goal.as_str(), policy.alpha, policy.min_days, policy.min_units_per_arm
    );
    let id = rule.id.to_string();
    let version = rule.version;
    let state = match (&experiment.winner, experiment.stopped.is_empty()) {
        (Some(w), _) => Some(format!("Decided: every targeted visitor gets `{w}`; nobody is counted any more, so the numbers above stay as they were.")),
        (None, false) => Some(format!("Switched off: {} (their visitors see the baseline and are not counted).", experiment.stopped.join(", "))),
        (None, true) => None,
    };
    let suggestion = suggestion.map(|d| {
        let kind = d.kind();
        let action = d.action();
        let id = id.clone();
        view! {
            <div class="mt-3 rounded-md border border-slate-200 bg-slate-50 px-3 py-2 text-sm" id="impact-decision" data-decision=kind>
                <span class="font-medium">"The decision engine suggests: "</span>{d.describe()}
                {action.map(move |action| view! {
                    <ActionForm action=decide attr:class="mt-2">
                        <input type="hidden" name="id" value=id/>
                        <input type="hidden" name="version" value=version.to_string()/>
                        <input type="hidden" name="decision" value=action/>
                        <button type="submit" class=SMALL id="decide-now">"Carry it out now"</button>
                    </ActionForm>
                })}
            </div>
        }
    });
    let newest = experiment.decisions.last().map(|d| d.version);
    let records = experiment.decisions.iter().rev().map(|r| {
        let who = if r.automatic() { "automatically".to_string() } else { format!("by {}", r.by) };
        let undoable = newest == Some(r.version) && r.version == version;
        let id = id.clone();
        view! {
            <li class="border-t border-slate-100 pt-2" data-decided=r.version.to_string() data-automatic=r.automatic().to_string()>
                <span class="font-medium">{format!("Version {}, {} {who}: ", r.version, fmt_time(r.at))}</span>
                {r.decision.describe()}
                {undoable.then(move || view! {
                    <ActionForm action=undo attr:class="mt-1">
                        <input type="hidden" name="id" value=id/>
                        <input type="hidden" name="version" value=version.to_string()/>
                        <button type="submit" class=SMALL id="undo-decision">"Undo this decision"</button>
                    </ActionForm>
                })}
            </li>
        }
    }).collect_view();
    let has_records = !experiment.decisions.is_empty();
    view! {
        <section class=format!("{CARD} mt-6") id="rule-decisions">
            <h2 class="text-lg font-semibold">"Decisions"</h2>
            <p class="mt-1 text-sm text-slate-600" id="decision-policy" data-mode=policy.mode_str()>{policy_text}</p>
            {state.map(|t| view! { <p class="mt-2 rounded-md border border-indigo-200 bg-indigo-50 px-3 py-2 text-sm text-indigo-900" id="experiment-state">{t}</p> })}
            {suggestion}
            {if has_records {
                view! { <ol class="mt-3 space-y-2 text-sm" id="decision-log">{records}</ol> }.into_any()
            } else {
                view! { <p class="mt-3 text-sm text-slate-500" id="decision-log-empty">"No decision taken yet."</p> }.into_any()
            }}
        </section>
    }
}

/// Where visitors click, per variant: each of the page's modules as a box of
/// `heatmap::GRID` × `heatmap::GRID` cells, darker where more clicks landed (one scale for
/// every variant, so they compare). Drawn as SVG on the server; each cell names its count.
#[component]
fn Clicks(heatmap: cortex_core::heatmap::Heatmap) -> impl IntoView {
    use cortex_core::heatmap::GRID;
    let max = heatmap.max.max(1) as f64;
    let empty = heatmap.is_empty();
    let scroll = heatmap.scroll.clone();
    let variants = heatmap.variants.into_iter().map(|v| {
        let name = if v.variant.is_empty() { "all visitors".to_string() } else { v.variant.clone() };
        let modules = v.modules.into_iter().map(|m| {
            let label = format!("{} ({}): {} clicks", m.node, m.kind, m.clicks);
            let cells = m.cells.iter().enumerate().filter(|(_, &n)| n > 0).map(|(i, &n)| {
                let (row, col) = (i / GRID, i % GRID);
                let opacity = format!("{:.2}", (n as f64 / max).max(0.08));
                view! {
                    <rect x=(col * 10).to_string() y=(row * 4).to_string() width="10" height="4" fill="#4f46e5" fill-opacity=opacity>
                        <title>{format!("row {}, column {}: {n} clicks", row + 1, col + 1)}</title>
                    </rect>
                }
            }).collect_view();
            view! {
                <li data-heat-node=m.node.clone() data-clicks=m.clicks.to_string()>
                    <p class="text-xs text-slate-600">{label.clone()}</p>
                    <svg viewBox="0 0 100 40" class="h-16 w-full rounded border border-slate-200 bg-slate-50" role="img" aria-label=label preserveAspectRatio="none">
                        {cells}
                    </svg>
                </li>
            }
        }).collect_view();
        view! {
            <div data-heat-variant=v.variant.clone()>
                <h3 class="text-sm font-medium">{format!("{name}: {} clicks", v.clicks)}</h3>
                <ol class="mt-1 space-y-1">{modules}</ol>
            </div>
        }
    }).collect_view();
    view! {
        <section class=format!("{CARD} mt-6") id="rule-heatmap">
            <h2 class="text-lg font-semibold">"Where visitors click"</h2>
            <Help key="heatmap" class="mt-1 text-sm text-slate-600"/>
            {if empty {
                view! { <p class="mt-3 text-sm text-slate-500" id="heatmap-empty">"No click with a position yet in this range."</p> }.into_any()
            } else {
                view! { <div class="mt-3 grid gap-6 sm:grid-cols-2 lg:grid-cols-3" id="heatmap">{variants}</div> }.into_any()
            }}
            <h3 class="mt-6 text-sm font-semibold text-slate-700">"How far down visitors see"</h3>
            <p class="text-xs text-slate-500">"The share of page views whose visitor saw at least each part of the page (0 % is the top), per variant; the storefront reports the deepest point once, when the visitor leaves."</p>
            <LineChart data=scroll id="scroll-depth" label="Share of page views that saw at least each tenth of the page, per variant".to_string() empty="No scroll depth reported yet in this range."/>
        </section>
    }
}

/// How the experiment allocates visitors: its namespace slice, and a bandit's weights over
/// time with the chances that moved them.
#[component]
fn Allocation(experiment: cortex_core::mutation::Experiment) -> impl IntoView {
    let namespace = experiment.namespace.as_ref().map(|n| {
        format!(
            "Namespace {}: only visitors in this slice take part; other experiments of the namespace take disjoint slices, so no visitor is in two of them.",
            n.describe()
        )
    });
    let bandit = experiment.bandit.as_ref().map(|b| {
        format!(
            "Bandit (Thompson sampling): every {} h, once every variant has {} visitors, the weights move toward each variant's chance to be best on the goal ({}); each variant keeps at least {}. A visitor keeps the variant they first saw.",
            b.interval_hours,
            b.min_units_per_arm,
            experiment.policy().goal.as_str(),
            cortex_core::chart::Unit::Percent.format(b.floor)
        )
    });
    let is_bandit = experiment.bandit.is_some();
    let chart = experiment.weights_chart();
    let keys: Vec<String> = experiment.variants.iter().map(|v| v.key.clone()).collect();
    let rows = experiment.reweights.iter().rev().map(|r| {
        let pct = |v: f64| cortex_core::chart::Unit::Percent.format(v);
        let cells = keys.iter().enumerate().map(|(i, k)| {
            format!(
                "{k} {} ({} to be best, {} visitors)",
                pct(r.weights.get(i).copied().unwrap_or_default()),
                pct(r.chance.get(i).copied().unwrap_or_default()),
                r.units.get(i).copied().unwrap_or_default()
            )
        }).collect::<Vec<_>>().join("; ");
        view! {
            <li class="border-t border-slate-100 pt-1" data-reweight=r.version.to_string()>
                <span class="font-medium">{format!("Version {}, {}: ", r.version, fmt_time(r.at))}</span>{cells}
            </li>
        }
    }).collect_view();
    view! {
        <section class=format!("{CARD} mt-6") id="rule-allocation">
            <h2 class="text-lg font-semibold">"Allocation"</h2>
            {namespace.map(|t| view! { <p class="mt-1 text-sm text-slate-600" id="allocation-namespace">{t}</p> })}
            {bandit.map(|t| view! { <p class="mt-1 text-sm text-slate-600" id="allocation-bandit">{t}</p> })}
            {is_bandit.then(|| view! {
                <LineChart data=chart id="chart-weights" label="The bandit's weights per variant after each change".to_string() empty="No weight change yet: the bandit waits for its interval and enough visitors per variant."/>
                <ol class="mt-3 space-y-1 text-sm" id="reweight-log">{rows}</ol>
            })}
        </section>
    }
}

/// The rule's guard: what it watches, and where its newest change stands.
#[component]
fn GuardSection(
    guard: cortex_core::stats::guard::Guard,
    status: Option<cortex_core::stats::guard::GuardStatus>,
) -> impl IntoView {
    let text = format!(
        "Every change of this rule is watched for {} h: if its page converts significantly worse than in the {} h before the change (sequential test at α {}, at least {} visitors each side), Cortex rolls the change back by itself.",
        guard.window_hours, guard.window_hours, guard.alpha, guard.min_units
    );
    let state = match &status {
        Some(s) => format!("Version {}, watched until {}: {}", s.version, fmt_time(s.until), s.verdict.describe()),
        None => "Not watching now: the newest change's window is over, the rule is off, or the guard itself wrote it.".to_string(),
    };
    view! {
        <section class=format!("{CARD} mt-6") id="rule-guard">
            <h2 class="text-lg font-semibold">"Guard"</h2>
            <p class="mt-1 text-sm text-slate-600">{text}</p>
            <p class="mt-2 text-sm" id="guard-state" data-watching=status.is_some().to_string()>{state}</p>
        </section>
    }
}

#[component]
fn Impact(report: LayoutReport, rule: cortex_core::mutation::LayoutMutation) -> impl IntoView {
    let (exposures, conversion) = report.daily_charts(rule.id.as_str());
    let range = format!(
        "{} to {}",
        report.from.format("%Y-%m-%d"),
        report.to.format("%Y-%m-%d")
    );
    view! {
        <section class=format!("{CARD} mt-6") id="rule-impact">
            <h2 class="text-lg font-semibold">"Impact"</h2>
            <p class="mt-1 text-sm text-slate-600">{format!("{range}. Conversion rate: visitors who converted / visitors exposed, with its 95 % interval.")}</p>
            {if report.rows.is_empty() {
                view! { <p class="mt-3 text-sm text-slate-500" id="impact-empty">"No exposures yet."</p> }.into_any()
            } else {
                view! {
                    <div class="overflow-x-auto" tabindex="0">
                    <table class="mt-3 min-w-full text-left text-sm" id="impact-table">
                        <thead class="bg-slate-50 text-xs uppercase text-slate-500">
                            <tr>
                                <th class="px-3 py-2">"Variant"</th><th class="px-3 py-2">"Exposures"</th><th class="px-3 py-2">"Visitors"</th>
                                <th class="px-3 py-2">"Conversion rate"</th><th class="px-3 py-2">"Clicks / exposure"</th><th class="px-3 py-2">"Mean dwell"</th>
                                <th class="px-3 py-2">"Revenue / visitor"</th><th class="px-3 py-2">"Errors / exposure"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {report.rows.iter().map(|r| view! {
                                <tr class="border-t border-slate-100" data-variant=r.tally.variant.clone()>
                                    <td class="px-3 py-2 font-mono text-xs">{if r.tally.variant.is_empty() { "—".to_string() } else { r.tally.variant.clone() }}</td>
                                    <td class="px-3 py-2">{r.tally.exposures}</td>
                                    <td class="px-3 py-2">{r.tally.exposed_units}</td>
                                    <td class="px-3 py-2">{r.conversion_rate.as_ref().map(pct).unwrap_or_else(|| "—".into())}</td>
                                    <td class="px-3 py-2">{r.click_rate.map(|c| format!("{c:.2}")).unwrap_or_else(|| "—".into())}</td>
                                    <td class="px-3 py-2">{r.dwell_ms.as_ref().map(|d| format!("{:.1} s (±{:.1})", d.value / 1000.0, (d.high - d.value) / 1000.0)).unwrap_or_else(|| "—".into())}</td>
                                    <td class="px-3 py-2">{r.revenue_per_visitor.as_ref().map(|d| format!("{:.2} (±{:.2})", d.value, d.high - d.value)).unwrap_or_else(|| "—".into())}</td>
                                    <td class="px-3 py-2">{r.error_rate.map(|e| format!("{e:.4}")).unwrap_or_else(|| "—".into())}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    </div>
                    <div class="mt-4 grid gap-6 lg:grid-cols-2">
                        <div>
                            <h3 class="text-sm font-semibold text-slate-700">"Exposures per day"</h3>
                            <LineChart data=exposures id="chart-exposures" label=format!("Exposures per day and variant, {range}")/>
                        </div>
                        <div>
                            <h3 class="text-sm font-semibold text-slate-700">"Conversions per exposure, per day"</h3>
                            <LineChart data=conversion id="chart-conversion" label=format!("Conversions per exposure per day and variant with 95 % intervals, {range}") empty="No exposures yet."/>
                        </div>
                    </div>
                    {report.srm.iter().filter(|c| c.flagged).map(|c| view! {
                        <p class="mt-3 rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800" role="alert" id="impact-srm">
                            {format!("Sample ratio mismatch (p = {:.5}): visitors are not split between the variants as the weights say, so these numbers cannot be trusted and no decision should be taken on them. Check the rule's targeting and the variants' weights.", c.p_value)}
                        </p>
                    }).collect_view()}
                    <ul class="mt-3 space-y-2 text-sm" id="impact-comparisons">
                        {report.comparisons.iter().map(|c| view! {
                            <li data-comparison=c.variant.clone()>
                                <span class="font-medium">{format!("{} vs {}: ", c.variant, c.baseline)}</span>
                                {format!(
                                    "{:+.1} points ({:+.1} to {:+.1}){}",
                                    c.difference.value * 100.0, c.difference.low * 100.0, c.difference.high * 100.0,
                                    if c.significant { ", the interval excludes zero" } else { ", not distinguishable yet" }
                                )}
                                {c.relative_lift.map(|l| view! {
                                    <span class="block text-xs text-slate-600" data-verdict="">
                                        {format!(
                                            "Relative lift {:+.1} % [{:+.1} %, {:+.1} %] (sequential: valid whenever you look){}{}",
                                            l.value * 100.0, l.low * 100.0, l.high * 100.0,
                                            c.p_value.map(|p| format!(", p = {p:.3}")).unwrap_or_default(),
                                            c.chance_to_win.map(|w| format!(", {:.0} % chance to beat {}", w * 100.0, c.baseline)).unwrap_or_default(),
                                        )}
                                    </span>
                                })}
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}
