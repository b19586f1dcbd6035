//! `/admin/federation/changes?state=…&id=…`: pushes held for review (stale, or to a
//! protected scope), one of them with its diff against the scope now, its comments, approve
//! and reject; and each scope's conflict policy. Works without JavaScript (links and plain
//! form posts).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::review::{
    change_request, change_requests, scope_policies, ApproveChangeRequest, ChangeRequest,
    ChangeRequestView, CommentChangeRequest, RejectChangeRequest, SetScopePolicy,
};
use crate::components::{fmt_time, ErrorBox, FormError, Loading, BUTTON, CARD};
use cortex_core::federation::review::{ChangeRequestState, ConflictMode};

const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 px-2 py-1 text-sm";
const SMALL: &str = "rounded-md border border-slate-300 px-3 py-1.5 text-sm hover:bg-slate-50";

fn href(state: &str, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("/admin/federation/changes?state={state}&id={id}"),
        None => format!("/admin/federation/changes?state={state}"),
    }
}

/// `/admin/federation/:section`: the scope history (`scope`) or the change requests
/// (`changes`).
#[component]
pub fn FederationSection() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    move || match params.read().get("section").as_deref() {
        Some("scope") => crate::pages::scope::ScopePage().into_any(),
        Some("changes") => ChangesPage().into_any(),
        _ => crate::pages::home::NotFound().into_any(),
    }
}

/// The change requests page.
#[component]
pub fn ChangesPage() -> impl IntoView {
    let query = use_query_map();
    let state = move || query.read().get("state").unwrap_or_else(|| "open".into());
    let id = move || query.read().get("id").filter(|s| !s.is_empty());
    let approve = ServerAction::<ApproveChangeRequest>::new();
    let reject = ServerAction::<RejectChangeRequest>::new();
    let comment = ServerAction::<CommentChangeRequest>::new();
    let policy = ServerAction::<SetScopePolicy>::new();
    let changed = move || {
        (
            approve.version().get(),
            reject.version().get(),
            comment.version().get(),
        )
    };
    let list = Resource::new(
        move || (state(), changed()),
        |(s, _)| change_requests(Some(s)),
    );
    let one = Resource::new(
        move || (id(), changed()),
        |(id, _)| async move {
            match id {
                Some(id) => change_request(Some(id)).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let policies = Resource::new(move || policy.version().get(), |_| scope_policies());
    let tab = move |s: &'static str| {
        let active = move || state() == s;
        view! {
            <a href=href(s, None) class=move || if active() { "rounded-md bg-slate-900 px-3 py-1 text-sm text-white" } else { "rounded-md px-3 py-1 text-sm text-slate-700 hover:bg-slate-100" }>{s}</a>
        }
    };
    view! {
        <Title text="Change requests"/>
        <p class="text-sm"><a href="/admin/federation" class="text-indigo-600 hover:underline">"← Federation"</a></p>
        <h1 class="mt-1 text-2xl font-bold">"Change requests"</h1>
        <p class="mt-1 max-w-3xl text-sm text-slate-600">
            "Pushes held for review. Another editor, or an admin, approves one and it is pushed."
        </p>
        <nav class="mt-4 flex gap-1" id="change-tabs">{tab("open")}{tab("applied")}{tab("rejected")}{tab("all")}</nav>
        <Suspense fallback=|| view! { <div class="mt-6"><Loading/></div> }>
            {move || Suspend::new(async move {
                match one.await {
                    Err(e) => view! { <div class="mt-6"><ErrorBox error=e/></div> }.into_any(),
                    Ok(None) => ().into_any(),
                    Ok(Some(v)) => view! { <Detail v approve reject comment/> }.into_any(),
                }
            })}
        </Suspense>
        <Transition fallback=|| view! { <div class="mt-6"><Loading/></div> }>
            {move || Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <div class="mt-6"><ErrorBox error=e/></div> }.into_any(),
                    Ok(l) if l.is_empty() => view! {
                        <p class=format!("{CARD} mt-6 text-sm text-slate-600") id="changes-empty">"None here."</p>
                    }.into_any(),
                    Ok(l) => view! { <List l state=state()/> }.into_any(),
                }
            })}
        </Transition>
        <section class=format!("{CARD} mt-6") id="scope-policies">
            <h2 class="text-lg font-semibold">"Scope policies"</h2>
            <p class="mt-1 text-sm text-slate-600">"Review holds stale pushes here; protected holds every push. Admins set them."</p>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match policies.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(p) if p.scopes.is_empty() => view! { <p class="mt-2 text-sm text-slate-500" id="policies-empty">"Every scope: last write wins."</p> }.into_any(),
                        Ok(p) => view! {
                            <ul class="mt-2 text-sm" id="policy-list">
                                {p.scopes.into_iter().map(|(s, p)| { let key = s.clone(); view! {
                                    <li data-scope=key><span class="font-mono">{s}</span>": "
                                        {if p.mode == ConflictMode::Review { "review" } else { "last write wins" }}
                                        {p.protected.then_some(", protected")}
                                    </li>
                                }}).collect_view()}
                            </ul>
                        }.into_any(),
                    }
                })}
            </Suspense>
            <ActionForm action=policy attr:class="mt-3 grid items-end gap-3 sm:grid-cols-4" attr:id="policy-form">
                <label class="text-sm font-medium text-slate-700">"Scope"<input name="scope" required placeholder="tag:eu" class=INPUT/></label>
                <label class="text-sm font-medium text-slate-700">"Stale pushes"
                    <select name="mode" class=INPUT>
                        <option value="lastWriteWins">"last write wins"</option>
                        <option value="review">"review"</option>
                    </select>
                </label>
                <label class="flex items-center gap-2 text-sm"><input type="checkbox" name="protected" value="true"/>"Protected"</label>
                <button type="submit" class=SMALL>"Set policy"</button>
                <div class="sm:col-span-4"><FormError action=policy/></div>
            </ActionForm>
        </section>
    }
}

#[component]
fn List(l: Vec<ChangeRequest>, state: String) -> impl IntoView {
    let rows = l
        .into_iter()
        .map(|c| {
            let link = href(&state, Some(&c.id));
            view! {
                <tr class="border-t border-slate-100" data-change=c.id.clone() data-state=c.state.as_str()>
                    <td class="py-1 pr-3 font-mono">{c.scope.to_string()}</td>
                    <td class="py-1 pr-3">{c.kind.as_str()}</td>
                    <td class="py-1 pr-3">{c.reason.describe()}</td>
                    <td class="py-1 pr-3">{c.created_by.clone()}</td>
                    <td class="py-1 pr-3 text-slate-500">{fmt_time(c.created_at)}</td>
                    <td class="py-1 pr-3">{c.state.as_str()}</td>
                    <td class="py-1"><a href=link class="text-indigo-600 hover:underline">"Review"</a></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class=format!("{CARD} mt-6 overflow-x-auto")>
            <table class="w-full text-left text-sm" id="change-list">
                <thead class="text-xs uppercase text-slate-500"><tr><th>"Scope"</th><th>"Kind"</th><th>"Why"</th><th>"By"</th><th>"When"</th><th>"State"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

#[component]
fn Detail(
    v: ChangeRequestView,
    approve: ServerAction<ApproveChangeRequest>,
    reject: ServerAction<RejectChangeRequest>,
    comment: ServerAction<CommentChangeRequest>,
) -> impl IntoView {
    let c = v.request;
    let id = c.id.clone();
    let open = c.state == ChangeRequestState::Open;
    let lines = v
        .diff
        .iter()
        .map(|l| {
            let colour = match l.tag.as_str() {
                "+" => "bg-emerald-50 text-emerald-900",
                "-" => "bg-red-50 text-red-900",
                _ => "text-slate-600",
            };
            view! { <div class=colour>{format!("{} {}", l.tag, l.text)}</div> }
        })
        .collect_view();
    let against = match v.current_revision {
        Some(r) => format!("Against revision {r} (what its neurons hold now)"),
        None => "Nothing of this kind was pushed to the scope yet".into(),
    };
    let base = match c.base_revision {
        Some(b) => format!(
            "; made from revision {b}, {} pushed since.",
            v.pushed_since_base
        ),
        None => "; it names no revision it was made from.".into(),
    };
    let decided = match (&c.decided_by, c.decided_at) {
        (Some(by), Some(at)) => Some(format!(
            "{} by {by} at {}{}{}",
            c.state.as_str(),
            fmt_time(at),
            c.applied_revision
                .map(|r| format!(" as revision {r}"))
                .unwrap_or_default(),
            if c.decision_note.is_empty() {
                String::new()
            } else {
                format!(": {}", c.decision_note)
            }
        )),
        _ => None,
    };
    let comments = c
        .comments
        .iter()
        .map(|m| {
            view! {
                <li class="border-t border-slate-100 py-1" data-comment="">
                    <span class="text-xs font-medium">{m.by.clone()}</span>
                    <span class="ml-2 text-xs text-slate-500">{fmt_time(m.at)}</span>
                    <p class="whitespace-pre-wrap text-sm">{m.text.clone()}</p>
                </li>
            }
        })
        .collect_view();
    let (id2, id3) = (id.clone(), id.clone());
    let seen = v.current_revision.unwrap_or(0).to_string();
    view! {
        <section class=format!("{CARD} mt-6") id="change-detail" data-state=c.state.as_str()>
            <h2 class="text-lg font-semibold">{format!("{} {} by {}", c.scope, c.kind.as_str(), c.created_by)}</h2>
            <p class="mt-1 text-sm text-slate-600">{format!("Held: {}.", c.reason.describe())}
                {(c.state != ChangeRequestState::Applied).then(|| format!(" {against}{base}"))}
            </p>
            {decided.map(|d| view! { <p class="mt-2 text-sm font-medium" id="change-decided">{d}</p> })}
            {if c.state == ChangeRequestState::Applied {
                ().into_any()
            } else if v.diff.is_empty() {
                view! { <p class="mt-2 text-sm">"Same content as now."</p> }.into_any()
            } else {
                view! { <pre class="mt-2 max-h-96 overflow-auto rounded bg-slate-50 p-2 text-xs" id="change-diff">{lines}</pre> }.into_any()
            }}
            <h3 class="mt-4 text-sm font-semibold">"Comments"</h3>
            <ul class="mt-1" id="change-comments">{comments}</ul>
            {open.then(|| view! {
                <ActionForm action=comment attr:class="mt-2" attr:id="comment-form">
                    <input type="hidden" name="id" value=id.clone()/>
                    <textarea name="text" rows="2" required maxlength="2000" class=INPUT aria-label="Comment"></textarea>
                    <FormError action=comment/>
                    <button type="submit" class=format!("{SMALL} mt-2")>"Comment"</button>
                </ActionForm>
                <div class="mt-4 flex flex-wrap items-start gap-4">
                    <ActionForm action=approve attr:id="approve-form">
                        <input type="hidden" name="id" value=id2.clone()/>
                        <input type="hidden" name="seen_revision" value=seen.clone()/>
                        <button type="submit" class=BUTTON>"Approve and push"</button>
                        <FormError action=approve/>
                    </ActionForm>
                    <ActionForm action=reject attr:id="reject-form" attr:class="flex flex-wrap items-start gap-2">
                        <input type="hidden" name="id" value=id3.clone()/>
                        <input name="note" maxlength="500" placeholder="Why (optional)" class="rounded-md border border-slate-300 px-2 py-1.5 text-sm" aria-label="Reason"/>
                        <button type="submit" class=SMALL>"Reject"</button>
                        <FormError action=reject/>
                    </ActionForm>
                </div>
            })}
        </section>
    }
}
