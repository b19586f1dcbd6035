//! Layout migrations on a real hub: a page's base layout replaced under its rules. Clear
//! re-links are made by the hub (new versions, audited as automatic); the rest wait on the
//! migration check with a proposal and the nodes to choose from, and an editor re-links one
//! or switches the rule off; the layout and rules from before the change are backed up and
//! restored whole; and every way a request about it is refused.

mod common;

use common::{expect_error, get_json as get, json_of, post_json as post, start};
use cortex_core::layout::Layout;
use cortex_core::Role;
use cortex_server::store::layouts::Head;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn editor() -> cortex_core::user::Principal {
    cortex_core::user::Principal {
        actor: "user:ed".into(),
        role: Role::Editor,
        user_id: None,
    }
}

fn layout(children: Value) -> Layout {
    serde_json::from_value(json!({"pageSlug": "p", "version": 1,
        "root": {"id": "root", "type": "page", "children": children}}))
    .unwrap()
}

fn rule(id: &str, mtype: &str, payload: Value) -> cortex_core::mutation::LayoutMutation {
    serde_json::from_value(json!({"id": id, "layoutId": "p", "pageSlug": "p",
        "mutationType": mtype, "mutationPayload": payload, "createdBy": "user:ed",
        "timestamp": "2026-12-01T00:00:00Z", "isActive": true, "layer": "page"}))
    .unwrap()
}

/// The page as first built: a hero, a grid of two cards, a side column with one banner.
fn first() -> Layout {
    layout(json!([
        {"id": "hero", "type": "hero"},
        {"id": "grid", "type": "grid", "children": [{"id": "a", "type": "card"}, {"id": "b", "type": "card"}]},
        {"id": "side", "type": "aside", "children": [{"id": "ad", "type": "banner"}]}
    ]))
}

/// Rebuilt: every leaf renamed.
fn second() -> Layout {
    layout(json!([
        {"id": "hero-2", "type": "hero"},
        {"id": "grid", "type": "grid", "children": [{"id": "a2", "type": "card"}, {"id": "b2", "type": "card"}]},
        {"id": "side", "type": "aside", "children": [{"id": "ad-2", "type": "banner"}]}
    ]))
}

fn target(m: &cortex_server::mutations::Mutations, id: &str) -> String {
    let set = &m.current().set;
    let r = set.rules.iter().find(|r| r.id.as_str() == id).unwrap();
    serde_json::to_value(r).unwrap()["mutationPayload"]["target"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_new_base_layout_heals_clear_rules_and_leaves_the_rest_to_an_editor() {
    let hub = start().await;
    let admin = hub.setup_admin().await;
    let viewer = hub.token(&admin, "viewer", Role::Viewer).await;
    let ed = hub.token(&admin, "ed", Role::Editor).await;
    let m = &hub.app.services.mutations;
    m.save_layout(first(), &editor()).await.unwrap();
    for (id, payload) in [
        (
            "r-hero",
            json!({"target": "hero", "patch": {"title": "Hi"}}),
        ),
        ("r-card", json!({"target": "b"})),
        ("r-ad", json!({"target": "ad"})),
    ] {
        let kind = if id == "r-hero" { "props" } else { "hide" };
        m.save_rule(rule(id, kind, payload), Head::Absent, &editor())
            .await
            .unwrap();
    }
    // The page's explanation is served, not compiled into the browser's download.
    let help = get(&viewer, &hub, "/api/help?key=migration").await;
    assert!(
        help.as_str().unwrap().starts_with("Rules naming nodes"),
        "{help}"
    );
    for (path, status, code) in [
        ("/api/help?key=nope", StatusCode::NOT_FOUND, "not_found"),
        ("/api/help", StatusCode::NOT_FOUND, "not_found"),
    ] {
        let res = common::plain()
            .get(hub.url(path))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        expect_error(res, status, code).await;
    }
    let res = common::plain()
        .get(hub.url("/api/help?key=migration"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let clean = get(&viewer, &hub, "/api/layout-mutation/migration-check").await;
    assert_eq!(clean[0]["broken"], json!([]), "{clean}");
    assert!(
        get(&viewer, &hub, "/api/layout-mutation/backups")
            .await
            .as_array()
            .unwrap()
            .is_empty(),
        "a page's first layout replaces nothing"
    );

    // The page rebuilt: the hero and the banner are the only ones of their type where they
    // were, so their rules follow by themselves; the grid has two cards, so `b` waits.
    m.save_layout(second(), &editor()).await.unwrap();
    assert_eq!(target(m, "r-hero"), "hero-2");
    assert_eq!(target(m, "r-ad"), "ad-2");
    assert_eq!(target(m, "r-card"), "b");
    let healed = m.current();
    let by = |id: &str| {
        healed
            .set
            .rules
            .iter()
            .find(|r| r.id.as_str() == id)
            .map(|r| (r.created_by.clone(), r.version))
            .unwrap()
    };
    assert_eq!(by("r-hero"), ("hub".to_string(), 2));
    let audit = hub
        .app
        .services
        .store
        .list_audit(&cortex_core::audit::AuditQuery {
            action: Some("layout-mutation.relink".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(audit.iter().all(|a| a.record.actor == "hub"
        && a.record.after["automatic"] == true
        && a.record.after["relinks"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("the only one there")));

    let check = get(&viewer, &hub, "/api/layout-mutation/migration-check").await;
    let page = &check[0];
    assert_eq!(
        (page["pageSlug"].as_str(), page["layoutVersion"].as_u64()),
        (Some("p"), Some(2))
    );
    let broken = page["broken"].as_array().unwrap();
    assert_eq!(broken.len(), 1, "{check}");
    assert_eq!(
        (
            broken[0]["ruleId"].as_str(),
            broken[0]["missing"].as_str(),
            broken[0]["proposal"].as_str(),
            broken[0]["unambiguous"].as_bool()
        ),
        (Some("r-card"), Some("b"), Some("b2"), Some(false))
    );
    assert_eq!(broken[0]["candidates"], json!(["a2", "b2"]));

    // Refused: a viewer; no rule, an unknown one, a node it does not name, a node not in
    // the layout.
    let resolve = "/api/layout-mutation/migration-check/resolve";
    expect_error(
        post(
            &viewer,
            &hub,
            resolve,
            json!({"rule": "r-card", "missing": "b", "to": "a2"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for (body, status, code, says) in [
        (
            json!({"missing": "b"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "rule:",
        ),
        (
            json!({"rule": "../x", "missing": "b"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "rule:",
        ),
        (
            json!({"rule": "r-card"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "missing:",
        ),
        (
            json!({"rule": "nope", "missing": "b"}),
            StatusCode::NOT_FOUND,
            "not_found",
            "no rule",
        ),
        (
            json!({"rule": "r-card", "missing": "a2"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "missing:",
        ),
        (
            json!({"rule": "r-card", "missing": "b", "to": "zz"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "to:",
        ),
        (
            json!({"rule": "r-card", "missing": "b", "to": "x".repeat(201)}),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "to:",
        ),
    ] {
        let msg = expect_error(post(&ed, &hub, resolve, body.clone()).await, status, code).await;
        assert!(msg.contains(says), "{body}: {msg}");
    }
    // Another node than proposed: chosen by the editor, audited as theirs.
    let v = json_of(
        post(
            &ed,
            &hub,
            resolve,
            json!({"rule": "r-card", "missing": "b", "to": "a2"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["rule"]["mutationPayload"]["target"], "a2");
    assert_eq!(v["rule"]["createdBy"], "token:ed");
    let check = get(&viewer, &hub, "/api/layout-mutation/migration-check").await;
    assert_eq!(check[0]["broken"], json!([]), "{check}");

    // The layout and rules from before the change were backed up, and come back whole.
    let backups = get(&viewer, &hub, "/api/layout-mutation/backups?page=p").await;
    let list = backups.as_array().unwrap();
    assert_eq!(list.len(), 1, "{backups}");
    assert_eq!(
        (
            list[0]["layoutVersion"].as_u64(),
            list[0]["rules"].as_u64(),
            list[0]["reason"].as_str(),
            list[0].get("set")
        ),
        (Some(1), Some(3), Some("save"), None)
    );
    let id = list[0]["id"].as_str().unwrap().to_string();
    let one = get(
        &viewer,
        &hub,
        &format!("/api/layout-mutation/backup?id={id}"),
    )
    .await;
    assert_eq!(
        one["set"]["layouts"][0]["root"]["children"][0]["id"],
        "hero"
    );
    assert_eq!(one["set"]["rules"].as_array().unwrap().len(), 3);
    let res = common::plain()
        .get(hub.url("/api/layout-mutation/backup?id=nope"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let restore = "/api/layout-mutation/backups/restore";
    expect_error(
        post(&viewer, &hub, restore, json!({"id": id})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        post(&ed, &hub, restore, json!({"id": "nope"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let restored = json_of(
        post(&ed, &hub, restore, json!({"id": id})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (restored["layouts"].as_u64(), restored["rules"].as_u64()),
        (Some(1), Some(3))
    );
    let now = m.current();
    assert_eq!(now.layout("p").unwrap().version, 3);
    assert_eq!(
        now.layout("p").unwrap().root.children[0].id.as_str(),
        "hero"
    );
    for (id, was) in [("r-hero", "hero"), ("r-card", "b"), ("r-ad", "ad")] {
        assert_eq!(target(m, id), was);
    }
    // Restoring replaced a layout too: its own backup is there to undo the undo.
    let backups = get(&viewer, &hub, "/api/layout-mutation/backups?page=p").await;
    assert_eq!(backups.as_array().unwrap().len(), 2);
    assert_eq!(backups[0]["reason"], "restore");

    // Rebuilt again, and this time the waiting rule is switched off: nothing waits.
    m.save_layout(second(), &editor()).await.unwrap();
    let v = json_of(
        post(
            &ed,
            &hub,
            resolve,
            json!({"rule": "r-card", "missing": "b"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v["rule"]["isActive"], false);
    let check = get(&viewer, &hub, "/api/layout-mutation/migration-check").await;
    assert_eq!(check[0]["broken"], json!([]), "{check}");
    // Switched on again while its node is still gone: refused, naming it.
    let msg = expect_error(
        post(
            &ed,
            &hub,
            "/api/layout-mutation/set-active",
            json!({"id": "r-card", "active": true}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(
        msg.contains("mutationPayload.target") && msg.contains("`b`"),
        "{msg}"
    );

    let actions: Vec<(String, String)> = hub
        .app
        .services
        .store
        .list_audit(&cortex_core::audit::AuditQuery {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.record.action, a.record.actor))
        .collect();
    for (action, actor) in [
        ("layout-mutation.relink", "token:ed"),
        ("layout.restore-backup", "token:ed"),
        ("layout-mutation.deactivate", "token:ed"),
    ] {
        assert!(
            actions.iter().any(|(a, w)| a == action && w == actor),
            "{action} by {actor}: {actions:?}"
        );
    }
}
