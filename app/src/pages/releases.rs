//! `/admin/releases`: per neuron kind, the release it should run, how many of its neurons
//! run which version (a bar), their last migrations and their drift (version, schema or API
//! fingerprint, each named), its rollouts (see `rollouts`), the kind's releases, and a form
//! to describe a new one. Works without JavaScript (plain form posts).

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::releases::{release_board, CreateRelease, ExpectRelease, Release, ReleaseBoard};
use crate::api::rollouts::{
    rollback_rules, rollouts, ActOnRollout, RolloutView, SetRollbackRule, StageRollout,
    StartRollout,
};
use crate::components::{fmt_time, ActionError, ErrorBox, FormError, Loading, CARD};
use crate::pages::rollouts::{KindRollouts, RollbackRulesCard, RolloutActions};
use cortex_core::federation::{KindReleases, MigrationState, NeuronRelease, Transport};

const SMALL: &str = "rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-50";
const INPUT: &str =
    "mt-1 block w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm";

/// The releases page.
#[component]
pub fn ReleasesPage() -> impl IntoView {
    let create = ServerAction::<CreateRelease>::new();
    let expect = ServerAction::<ExpectRelease>::new();
    let actions = RolloutActions {
        start: ServerAction::<StartRollout>::new(),
        act: ServerAction::<ActOnRollout>::new(),
        stage: ServerAction::<StageRollout>::new(),
    };
    let set_rule = ServerAction::<SetRollbackRule>::new();
    let rules = Resource::new(move || set_rule.version().get(), |_| rollback_rules());
    let changes = move || {
        (
            create.version().get(),
            expect.version().get(),
            actions.start.version().get(),
            actions.act.version().get(),
            actions.stage.version().get(),
        )
    };
    // Bumped every few seconds once hydrated (never on the server) while a rollout runs or
    // is paused, since it moves by itself; not while someone types in one of the forms.
    let tick = RwSignal::new(0u64);
    let runs = Resource::new(move || (changes(), tick.get()), |_| rollouts());
    Effect::new(move |_| {
        let moving = move || {
            runs.get_untracked()
                .and_then(Result::ok)
                .is_some_and(|r| r.iter().any(|r| r.rollout.state.is_active()))
        };
        if let Ok(handle) = set_interval_with_handle(
            move || {
                if moving() && !typing() {
                    tick.update(|t| *t += 1)
                }
            },
            std::time::Duration::from_secs(3),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    let board = Resource::new(move || (changes(), tick.get()), |_| release_board());
    view! {
        <Title text="Releases"/>
        <h1 class="text-2xl font-bold">"Releases"</h1>
        <p class="mt-1 max-w-3xl text-sm text-slate-600">
            "What each neuron kind should run, and what its neurons say they run."
        </p>
        <ActionError action=expect/>
        <Transition fallback=|| view! { <div class="mt-6"><Loading/></div> }>
            {move || Suspend::new(async move {
                match (board.await, runs.await, rules.await) {
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => view! { <div class="mt-6"><ErrorBox error=e/></div> }.into_any(),
                    (Ok(board), Ok(runs), Ok(rules)) => {
                        let kinds: Vec<String> = board.kinds.iter().map(|k| k.kind.clone()).collect();
                        view! {
                            <Board board runs create expect actions/>
                            <RollbackRulesCard rules kinds set=set_rule/>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// Whether a form field has the focus (the page then waits with its refresh).
fn typing() -> bool {
    #[cfg(feature = "hydrate")]
    if let Some(el) = document().active_element() {
        return matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA");
    }
    false
}

#[component]
fn Board(
    board: ReleaseBoard,
    runs: Vec<RolloutView>,
    create: ServerAction<CreateRelease>,
    expect: ServerAction<ExpectRelease>,
    actions: RolloutActions,
) -> impl IntoView {
    let names: Vec<String> = board.kinds.iter().map(|k| k.kind.clone()).collect();
    let (used, unused): (Vec<KindReleases>, Vec<KindReleases>) = board
        .kinds
        .into_iter()
        .partition(|k| k.joined > 0 || !k.releases.is_empty());
    let drifting: u64 = used.iter().map(|k| k.drifting).sum();
    let failed: u64 = used
        .iter()
        .map(|k| k.migrations.get("failed").copied().unwrap_or(0))
        .sum();
    view! {
        <p class="mt-6 text-sm text-slate-700" id="release-summary">
            {format!(
                "{drifting} neuron{} drifting; {failed} failed migration{}.",
                if drifting == 1 { "" } else { "s" },
                if failed == 1 { "" } else { "s" }
            )}
        </p>
        {used.is_empty().then(|| view! {
            <p class=format!("{CARD} mt-4 text-sm text-slate-600") id="releases-empty">
                "No release described and no neuron joined yet. Describe a release below; neurons report their version, fingerprints and migrations as they join and heartbeat."
            </p>
        })}
        <div class="mt-4 space-y-6">
            {used.into_iter().map(|k| {
                let runs: Vec<RolloutView> = runs.iter().filter(|r| r.rollout.kind == k.kind).cloned().collect();
                view! { <Kind k runs expect actions/> }
            }).collect_view()}
        </div>
        {(!unused.is_empty()).then(|| view! {
            <p class="mt-4 text-xs text-slate-500" id="kinds-unused">
                "Kinds with no neurons and no releases: " {unused.iter().map(|k| k.kind.clone()).collect::<Vec<_>>().join(", ")}
            </p>
        })}
        <NewRelease names create/>
    }
}

#[component]
fn Kind(
    k: KindReleases,
    runs: Vec<RolloutView>,
    expect: ServerAction<ExpectRelease>,
    actions: RolloutActions,
) -> impl IntoView {
    let expected_version = k.expected.as_ref().map(|e| e.version.clone());
    let headline = match &k.expected {
        Some(e) => format!(
            "expected {} (chosen by {} at {})",
            e.version,
            e.set_by,
            fmt_time(e.set_at)
        ),
        None => "no expected release: versions are counted, drift is not flagged".into(),
    };
    let migrations = k
        .migrations
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect::<Vec<_>>()
        .join(" · ");
    let browser = (k.transport == Transport::Browser).then(|| view! {
        <p class="mt-1 text-xs text-slate-500">"Browser apps report the release they loaded: they are counted, not commanded."</p>
    });
    let joined = k.joined;
    view! {
        <section class=CARD data-kind=k.kind.clone()>
            <div class="flex flex-wrap items-baseline gap-x-3">
                <h2 class="text-lg font-semibold">{k.kind.clone()}</h2>
                <span class="text-sm text-slate-600" data-expected=expected_version.clone().unwrap_or_default()>{headline}</span>
            </div>
            {browser}
            <p class="mt-2 text-sm" data-drifting=k.drifting.to_string()>
                {format!("{joined} joined · {} drifting", k.drifting)}
                {(!migrations.is_empty()).then(|| format!(" · migrations: {migrations}"))}
            </p>
            <VersionBar versions=k.versions.clone() joined/>
            <KindRollouts kind=k.kind.clone() versions=k.releases.iter().map(|r| r.version.clone()).collect()
                browser=k.transport == Transport::Browser rollouts=runs actions/>
            <NeuronTable neurons=k.neurons.clone() joined/>
            <ReleaseTable releases=k.releases.clone() expected=expected_version expect/>
        </section>
    }
}

/// One bar per kind: each version's share of its joined neurons (the expected one green,
/// described ones blue, others amber), with a legend that says the same in words.
#[component]
fn VersionBar(versions: Vec<cortex_core::federation::VersionCount>, joined: u64) -> impl IntoView {
    if joined == 0 {
        return view! { <p class="mt-2 text-xs text-slate-500">"No neuron of this kind has joined."</p> }.into_any();
    }
    let colour = |v: &cortex_core::federation::VersionCount| {
        if v.expected {
            "bg-emerald-500"
        } else if v.described {
            "bg-sky-500"
        } else {
            "bg-amber-400"
        }
    };
    let segments = versions
        .iter()
        .map(|v| {
            let share = v.neurons as f64 * 100.0 / joined as f64;
            view! {
                <div class=format!("h-full {}", colour(v)) style=format!("width: {share:.2}%")
                    title=format!("{}: {} neurons", v.version, v.neurons)></div>
            }
        })
        .collect_view();
    let legend = versions
        .iter()
        .map(|v| {
            let note = if v.expected {
                " (expected)"
            } else if !v.described {
                " (no release described)"
            } else {
                ""
            };
            view! {
                <li class="flex items-center gap-1" data-version=v.version.clone() data-neurons=v.neurons.to_string()>
                    <span class=format!("inline-block h-2 w-2 rounded-sm {}", colour(v))></span>
                    {format!("{} ×{}{note}", v.version, v.neurons)}
                </li>
            }
        })
        .collect_view();
    view! {
        <div class="mt-2 flex h-3 w-full overflow-hidden rounded bg-slate-100" role="img" aria-label="Versions its neurons run">{segments}</div>
        <ul class="mt-1 flex flex-wrap gap-x-4 text-xs text-slate-700">{legend}</ul>
    }
    .into_any()
}

#[component]
fn NeuronTable(neurons: Vec<NeuronRelease>, joined: u64) -> impl IntoView {
    if neurons.is_empty() {
        return ().into_any();
    }
    let cut = (joined > neurons.len() as u64).then(|| {
        format!(
            "Showing {} of {joined} neurons: failed migrations first, then drifting ones.",
            neurons.len()
        )
    });
    let rows = neurons
        .into_iter()
        .map(|n| {
            let drift = n.drift.iter().map(|d| view! { <li>{d.describe()}</li> }).collect_view();
            let drifting = !n.drift.is_empty();
            let migration = n.migration.map(|m| {
                let colour = match m.state {
                    MigrationState::Failed => "text-red-700 font-semibold",
                    MigrationState::Running => "text-sky-700",
                    MigrationState::Succeeded => "text-emerald-700",
                };
                view! {
                    <span class=colour data-migration-state=m.state.as_str()>{format!("{} {} ({:?})", m.state.as_str(), m.id, m.phase).to_lowercase()}</span>
                    <span class="text-slate-500">" at " {fmt_time(m.at)}</span>
                    {(!m.output_tail.is_empty()).then(|| view! {
                        <details><summary class="cursor-pointer text-slate-600">"output"</summary>
                            <pre class="mt-1 max-h-40 overflow-auto whitespace-pre-wrap rounded bg-slate-50 p-2 text-[11px]">{m.output_tail.clone()}</pre>
                        </details>
                    })}
                }
                .into_any()
            });
            view! {
                <tr class="border-t border-slate-100 align-top" data-release-neuron=n.id.clone() data-drift=drifting.to_string()>
                    <td class="py-1 pr-3 font-mono">{n.id.clone()}</td>
                    <td class="py-1 pr-3">{n.version.clone()}</td>
                    <td class="py-1 pr-3">{n.status.as_str()}</td>
                    <td class="py-1 pr-3">{migration}</td>
                    <td class="py-1">
                        {if drifting {
                            view! { <ul class="text-amber-800" data-drift-list="">{drift}</ul> }.into_any()
                        } else {
                            view! { <span class="text-slate-500">"—"</span> }.into_any()
                        }}
                    </td>
                </tr>
            }
            .into_any()
        })
        .collect_view();
    view! {
        <div class="mt-3 overflow-x-auto">
            <table class="w-full text-left text-xs">
                <thead class="text-slate-500"><tr><th class="pr-3 font-medium">"neuron"</th><th class="pr-3 font-medium">"version"</th><th class="pr-3 font-medium">"status"</th><th class="pr-3 font-medium">"last migration"</th><th class="font-medium">"drift"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            {cut.map(|c| view! { <p class="mt-1 text-xs text-slate-500">{c}</p> })}
        </div>
    }
    .into_any()
}

#[component]
fn ReleaseTable(
    releases: Vec<Release>,
    expected: Option<String>,
    expect: ServerAction<ExpectRelease>,
) -> impl IntoView {
    if releases.is_empty() {
        return view! { <p class="mt-3 text-xs text-slate-500">"No release of this kind is described yet."</p> }.into_any();
    }
    let rows = releases
        .into_iter()
        .map(|r| {
            let is_expected = expected.as_deref() == Some(r.version.as_str());
            let list = |l: &[String]| if l.is_empty() { "—".to_string() } else { l.join(", ") };
            let fingerprints = [
                r.fingerprints.schema.as_ref().map(|s| format!("schema {s}")),
                r.fingerprints.api.as_ref().map(|a| format!("api {a}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ");
            let (kind, version) = (r.kind.clone(), r.version.clone());
            view! {
                <tr class="border-t border-slate-100 align-top" data-release=r.version.clone()>
                    <td class="py-1 pr-3 font-semibold">{r.version.clone()}</td>
                    <td class="py-1 pr-3">{list(&r.pre_migrations)}</td>
                    <td class="py-1 pr-3">{list(&r.post_migrations)}</td>
                    <td class="py-1 pr-3 break-all font-mono">{if fingerprints.is_empty() { "—".to_string() } else { fingerprints }}</td>
                    <td class="py-1 pr-3">{r.bundle.as_ref().map(|b| format!("{}@{}", b.scope, b.revision)).unwrap_or_else(|| "—".into())}</td>
                    <td class="py-1 pr-3">{r.created_by.clone()} <br/> <span class="text-slate-500">{fmt_time(r.created_at)}</span></td>
                    <td class="py-1 pr-3 whitespace-pre-wrap">{r.notes.clone()}</td>
                    <td class="py-1">
                        {if is_expected {
                            view! { <span class="font-semibold text-emerald-700">"expected"</span> }.into_any()
                        } else {
                            view! {
                                <ActionForm action=expect>
                                    <input type="hidden" name="kind" value=kind/>
                                    <input type="hidden" name="version" value=version/>
                                    <button type="submit" class=SMALL data-expect="">"Make expected"</button>
                                </ActionForm>
                            }.into_any()
                        }}
                    </td>
                </tr>
            }
            .into_any()
        })
        .collect_view();
    view! {
        <details class="mt-3" open>
            <summary class="cursor-pointer text-sm font-semibold">"Releases"</summary>
            <div class="mt-1 overflow-x-auto">
                <table class="w-full text-left text-xs">
                    <thead class="text-slate-500"><tr>
                        <th class="pr-3 font-medium">"version"</th><th class="pr-3 font-medium">"pre-migrations"</th><th class="pr-3 font-medium">"post-migrations"</th>
                        <th class="pr-3 font-medium">"fingerprints"</th><th class="pr-3 font-medium">"bundle"</th><th class="pr-3 font-medium">"described"</th><th class="pr-3 font-medium">"notes"</th><th></th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </details>
    }
    .into_any()
}

#[component]
fn NewRelease(names: Vec<String>, create: ServerAction<CreateRelease>) -> impl IntoView {
    let options = names
        .into_iter()
        .map(|n| view! { <option value=n.clone()>{n.clone()}</option> })
        .collect_view();
    let label = "block text-xs font-medium text-slate-700";
    view! {
        <section class=format!("{CARD} mt-8")>
            <h2 class="text-lg font-semibold">"Describe a release"</h2>
            <p class="mt-1 text-xs text-slate-600">"A described release never changes: describe a new version instead. Migrations are ids, in order."</p>
            <ActionForm action=create attr:class="mt-3 grid gap-3 sm:grid-cols-2" attr:id="new-release">
                <label class=label>"Kind" <select name="kind" class=INPUT required>{options}</select></label>
                <label class=label>"Version" <input name="version" class=INPUT required maxlength="64" placeholder="2.4.0"/></label>
                <label class=label>"Pre-migrations" <input name="pre_migrations" class=INPUT placeholder="0042_add_orders_index, 0043_backfill"/></label>
                <label class=label>"Post-migrations" <input name="post_migrations" class=INPUT placeholder="0044_drop_old_column"/></label>
                <label class=label>"Schema fingerprint" <input name="schema_fingerprint" class=INPUT maxlength="128" placeholder="sha256:…"/></label>
                <label class=label>"API fingerprint" <input name="api_fingerprint" class=INPUT maxlength="128" placeholder="sha256:…"/></label>
                <label class=label>"Bundle scope" <input name="bundle_scope" class=INPUT placeholder="global"/></label>
                <label class=label>"Bundle revision" <input name="bundle_revision" class=INPUT inputmode="numeric" placeholder="12"/></label>
                <label class=format!("{label} sm:col-span-2")>"Notes" <textarea name="notes" class=INPUT rows="2" maxlength="4000"></textarea></label>
                <div class="sm:col-span-2">
                    <FormError action=create/>
                    <button type="submit" class="mt-2 rounded-md bg-slate-900 px-3 py-1.5 text-sm font-semibold text-white hover:bg-slate-700">"Describe release"</button>
                </div>
            </ActionForm>
        </section>
    }
}
