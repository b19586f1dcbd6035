//! `/admin/status`: settings in force and the hub's health.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::status::get_status;
use crate::components::{ErrorBox, Loading, CARD};
use cortex_core::status::{human_bytes, human_duration};

/// The status page.
#[component]
pub fn StatusPage() -> impl IntoView {
    let status = Resource::new(|| (), |_| get_status());
    view! {
        <Title text="Settings / Status"/>
        <h1 class="text-2xl font-bold">"Settings / Status"</h1>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match status.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(s) => {
                        let rows = vec![
                            ("Version", s.version.clone()),
                            ("Database backend", s.backend.clone()),
                            ("Database", if s.database_ok { "ok".into() } else { format!("unreachable: {}", s.database_error.clone().unwrap_or_default()) }),
                            ("Data dir", s.data_dir.clone()),
                            ("Uptime", human_duration(s.uptime_secs)),
                            ("Session lifetime", human_duration(s.session_ttl_secs)),
                            ("Public URL", s.public_url.clone().unwrap_or_else(|| "not set".into())),
                            ("Secure cookies", if s.secure_cookies { "yes".into() } else { "no".into() }),
                            ("Audit chain", match &s.audit_chain { Ok(n) => format!("intact, {n} entries verified"), Err(e) => format!("BROKEN: {e}") }),
                            ("Analytics spool", match &s.spool_refusing {
                                None => format!("ok, {} waiting for the database", human_bytes(s.spool_backlog_bytes)),
                                Some(why) => format!("FULL, refusing batches until there is room: {why}"),
                            }),
                            ("Storefront events", match s.storefront_events_shed {
                                0 => format!("{} recorded since start, none shed", s.storefront_events_recorded),
                                shed => format!("{} recorded since start, {shed} SHED: the analytics spool could not take them in time (see cortex_storefront_events_shed_total)", s.storefront_events_recorded),
                            }),
                            ("Last-known-good copy", match (s.control_copy_taken_at, s.control_copy_rows) {
                                (Some(at), Some(rows)) => format!(
                                    "{rows} rows, taken {}",
                                    chrono::DateTime::from_timestamp_millis(at).map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                                ),
                                _ => "not written yet".into(),
                            }),
                        ];
                        let warnings = s.warnings.clone();
                        view! {
                            {(!warnings.is_empty()).then(|| view! {
                                <div class="mt-6 rounded-md border border-amber-300 bg-amber-50 p-4 text-sm text-amber-900" id="status-warnings" role="alert">
                                    <ul class="space-y-2">
                                        {warnings.into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}
                                    </ul>
                                </div>
                            })}
                            <dl class=format!("{CARD} mt-6 grid grid-cols-3 gap-x-4 gap-y-3 text-sm") id="status">
                                {rows.into_iter().map(|(k, v)| view! {
                                    <dt class="font-medium text-slate-500">{k}</dt>
                                    <dd class="col-span-2 break-words font-mono">{v}</dd>
                                }).collect_view()}
                            </dl>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
