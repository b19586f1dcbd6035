//! The READMEs' API sections are generated from the OpenAPI document; these tests fail when
//! one is stale. Regenerate with `CORTEX_UPDATE_DOCS=1 cargo test --test docs`.

mod common;

use serde_json::Value;

const BEGIN: &str = "<!-- api:begin (generated from /api/openapi.json; CORTEX_UPDATE_DOCS=1 cargo test --test docs) -->";
const END: &str = "<!-- api:end -->";

/// The table of every endpoint whose path starts with `prefix`.
fn api_table(prefix: &str) -> String {
    let doc = cortex_app::openapi::document();
    let mut rows = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with(prefix) {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let neuron = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x.get("neuronSignature").is_some()));
            let role = op
                .get("x-cortex-role")
                .and_then(Value::as_str)
                .map(|r| format!("`{r}`"))
                .unwrap_or_else(|| {
                    if neuron {
                        "neuron".into()
                    } else {
                        "public".into()
                    }
                });
            let fields: Vec<String> = op["requestBody"]["content"]["application/json"]["schema"]
                ["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .or_else(|| {
                    op["parameters"].as_array().map(|ps| {
                        ps.iter()
                            .map(|p| p["name"].as_str().unwrap_or("").to_string())
                            .collect()
                    })
                })
                .unwrap_or_default();
            let body_ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .map(|name| format!("`{name}` (JSON)"));
            let fields = if let Some(body) = body_ref {
                body
            } else if fields.is_empty() {
                "—".to_string()
            } else {
                fields
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            rows.push(format!(
                "| `{} {path}` | {role} | {fields} | {} |",
                method.to_uppercase(),
                op["summary"].as_str().unwrap_or("")
            ));
        }
    }
    rows.sort();
    let mut out = String::from("| endpoint | role | input | what it does |\n|---|---|---|---|\n");
    out.push_str(&rows.join("\n"));
    out.push('\n');
    out
}

#[test]
fn readme_api_section_is_current() {
    check("README.md", "/");
}

#[test]
fn federation_readme_api_section_is_current() {
    check("README_federation.md", "/api/federation/");
}

#[test]
fn layout_mutation_readme_api_section_is_current() {
    check("README_layout-mutation.md", "/api/layout-mutation/");
}

fn check(file: &str, prefix: &str) {
    common::generated_section(
        file,
        BEGIN,
        END,
        &api_table(prefix),
        "CORTEX_UPDATE_DOCS=1 cargo test --test docs",
    );
}

/// README's code map names every top-level folder and every module of each crate, and
/// every path it names exists.
#[test]
fn the_code_map_matches_the_tree() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let map = readme
        .split("## Code map")
        .nth(1)
        .expect("README has a Code map section")
        .split("\n## ")
        .next()
        .unwrap();
    let named: Vec<&str> = map.split('`').skip(1).step_by(2).collect();
    let mut missing = Vec::new();
    let tracked = std::process::Command::new("git")
        .args(["ls-files"])
        .current_dir(root)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let folders: std::collections::BTreeSet<&str> = tracked
        .lines()
        .filter_map(|l| l.split_once('/').map(|(dir, _)| dir))
        .filter(|d| !d.starts_with(".ci"))
        .collect();
    for dir in folders {
        if !named.contains(&format!("{dir}/").as_str()) {
            missing.push(format!("folder `{dir}/`"));
        }
    }
    for src in ["core/src", "server/src", "app/src", "sdk/src", "src"] {
        for entry in std::fs::read_dir(root.join(src)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            let Some(module) = name.strip_suffix(".rs") else {
                continue;
            };
            if module != "lib" && module != "main" && !named.contains(&module) {
                missing.push(format!("module `{module}` of {src}"));
            }
        }
    }
    for path in named
        .iter()
        .filter(|n| n.contains('/') && !n.starts_with('/') && !n.contains(' '))
    {
        if !root.join(path).exists() {
            missing.push(format!("`{path}` is named but does not exist"));
        }
    }
    assert!(
        missing.is_empty(),
        "README's code map is out of date: {missing:#?}"
    );
}
