//! The README's API section is generated from the OpenAPI document; this test fails when it
//! is stale. Regenerate with `CORTEX_UPDATE_DOCS=1 cargo test --test docs`.

use serde_json::Value;

const BEGIN: &str = "<!-- api:begin (generated from /api/openapi.json; CORTEX_UPDATE_DOCS=1 cargo test --test docs) -->";
const END: &str = "<!-- api:end -->";

fn api_table() -> String {
    let doc = cortex_app::openapi::document();
    let mut rows = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let role = op
                .get("x-cortex-role")
                .and_then(Value::as_str)
                .map(|r| format!("`{r}`"))
                .unwrap_or_else(|| "public".into());
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
            let fields = if fields.is_empty() {
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
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme.find(BEGIN).expect("README has the api:begin marker") + BEGIN.len();
    let end = readme.find(END).expect("README has the api:end marker");
    let want = format!("\n{}", api_table());
    if readme[start..end] != want {
        if std::env::var_os("CORTEX_UPDATE_DOCS").is_some() {
            std::fs::write(
                path,
                format!("{}{want}{}", &readme[..start], &readme[end..]),
            )
            .unwrap();
        } else {
            panic!("README.md's API section is stale: run `CORTEX_UPDATE_DOCS=1 cargo test --test docs` and commit");
        }
    }
}
