//! Releases: the board (each kind's releases, expected release, what its neurons run, their
//! migrations and drift), describing a release and choosing the one a kind should run.

use crate::error::AppError;
pub use cortex_core::federation::{Expectation, Release, ReleaseBoard};
use leptos::prelude::*;

/// Every kind's releases and what its neurons run. Viewer.
#[server(name = ReleaseBoardFn, prefix = "/api", endpoint = "releases", input = leptos::server_fn::codec::GetUrl)]
pub async fn release_board() -> Result<ReleaseBoard, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    Ok(services.federation.release_board(&who).await?)
}

/// Describes a release of a kind (audited as `release.create`). Lists (migrations) are
/// separated by commas, spaces or lines; empty fields mean none. Operator.
#[allow(clippy::too_many_arguments)]
#[server(name = CreateRelease, prefix = "/api", endpoint = "releases/create")]
pub async fn create_release(
    kind: String,
    version: String,
    #[server(default)] pre_migrations: Option<String>,
    #[server(default)] post_migrations: Option<String>,
    #[server(default)] bundle_scope: Option<String>,
    #[server(default)] bundle_revision: Option<String>,
    #[server(default)] schema_fingerprint: Option<String>,
    #[server(default)] api_fingerprint: Option<String>,
    #[server(default)] notes: Option<String>,
) -> Result<Release, AppError> {
    use cortex_core::federation::{split_list, BundleRef, Fingerprints, ReleaseForCreate};
    use cortex_core::ErrorCode;
    let (services, who) = super::guard::require(cortex_core::Role::Operator)?;
    super::guard::require_writable(&services)?;
    let given = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let bad = |m: String| AppError::new(ErrorCode::BadRequest, m);
    let bundle = match (given(bundle_scope), given(bundle_revision)) {
        (None, None) => None,
        (Some(scope), Some(revision)) => Some(BundleRef {
            scope: scope
                .parse()
                .map_err(|e: cortex_core::federation::FieldError| {
                    bad(format!("bundle_scope: {}", e.message))
                })?,
            revision: revision.parse().map_err(|_| {
                bad(format!(
                    "bundle_revision: `{revision}` is not a revision number"
                ))
            })?,
        }),
        _ => {
            return Err(bad(
                "bundle_scope and bundle_revision go together: give both or neither".into(),
            ))
        }
    };
    let form = ReleaseForCreate {
        kind: kind.trim().to_string(),
        version: version.trim().to_string(),
        bundle,
        pre_migrations: split_list(&pre_migrations.unwrap_or_default()),
        post_migrations: split_list(&post_migrations.unwrap_or_default()),
        fingerprints: Fingerprints {
            schema: given(schema_fingerprint),
            api: given(api_fingerprint),
        },
        notes: notes.unwrap_or_default().trim().to_string(),
    };
    Ok(services
        .federation
        .create_release(form, &who, chrono::Utc::now())
        .await?)
}

/// Makes a described release the one a kind should run (audited as `release.expect`).
/// Operator.
#[server(name = ExpectRelease, prefix = "/api", endpoint = "releases/expect")]
pub async fn expect_release(kind: String, version: String) -> Result<Expectation, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Operator)?;
    super::guard::require_writable(&services)?;
    Ok(services
        .federation
        .expect_release(kind.trim(), version.trim(), &who, chrono::Utc::now())
        .await?)
}
