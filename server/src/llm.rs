//! Rules proposed by a language model, optional and off by default: with `CORTEX_LLM_URL`
//! (an OpenAI-compatible API, e.g. `http://127.0.0.1:8000/v1`) and `CORTEX_LLM_MODEL` set,
//! the suggestion engine also asks the model for draft rules, showing it the pages' modules
//! and the same segment counts the rule-based engine reads. The model's answer is treated as
//! hostile input: it is size-bounded, parsed as rules, validated like any rule an editor
//! saves (fields, conditions, links, targets in the page), forced to a switched-off draft,
//! and refused when anything is wrong. Nothing it proposes is applied without an editor.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::time::Duration;

use cortex_core::layout::{Layout, Node};
use cortex_core::suggest::SegmentCount;

/// Most proposals taken from one answer.
pub const MAX_PROPOSALS: usize = 5;
/// Largest answer read (bytes).
const MAX_ANSWER: usize = 256 * 1024;
/// Segment counts shown to the model (the largest).
const MAX_COUNTS: usize = 200;

/// The configured model. Cheap to clone.
#[derive(Clone)]
pub struct Llm {
    url: url::Url,
    model: String,
    key: Option<std::sync::Arc<SecretString>>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a token: only its host is shown.
        f.debug_struct("Llm")
            .field("host", &self.url.host_str())
            .field("model", &self.model)
            .finish()
    }
}

/// One proposal as the model wrote it: why, and the rule (not yet checked).
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub why: String,
    pub rule: Value,
}

impl Llm {
    /// A model at `url` (the API's base, checked at start-up: http or https) called `model`,
    /// with `key` as its bearer token if given.
    pub fn new(url: url::Url, model: String, key: Option<SecretString>) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            // The operator named this URL; a redirect could lead anywhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Llm {
            url,
            model,
            key: key.map(std::sync::Arc::new),
            client,
        })
    }

    /// The chat completions endpoint under the configured base.
    fn endpoint(&self) -> String {
        format!(
            "{}/chat/completions",
            self.url.as_str().trim_end_matches('/')
        )
    }

    /// Asks the model for draft rules for `layouts`, given `counts`. Errors say why the
    /// answer could not be read (the caller logs them and goes on without).
    pub async fn propose(
        &self,
        layouts: &[Layout],
        counts: &[SegmentCount],
    ) -> Result<Vec<Proposal>, String> {
        let body = json!({
            "model": self.model,
            "temperature": 0.2,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": prompt(layouts, counts)},
            ],
        });
        let mut req = self.client.post(self.endpoint()).json(&body);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k.expose_secret());
        }
        let mut res = req
            .send()
            .await
            // Errors leave the URL out (it may carry a token).
            .map_err(|e| format!("the model did not answer: {}", e.without_url()))?;
        if !res.status().is_success() {
            return Err(format!("the model answered {}", res.status()));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| e.without_url().to_string())? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_ANSWER {
                return Err(format!(
                    "the model's answer is larger than {MAX_ANSWER} bytes"
                ));
            }
        }
        let answer: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("the model's answer is not JSON: {e}"))?;
        let content = answer["choices"][0]["message"]["content"]
            .as_str()
            .ok_or("the model's answer has no choices[0].message.content")?;
        parse_proposals(content)
    }
}

/// The proposals in a model's message: a JSON object `{"suggestions": [{"why", "rule"}]}`,
/// possibly inside a fenced code block or surrounded by words.
pub fn parse_proposals(content: &str) -> Result<Vec<Proposal>, String> {
    let (Some(start), Some(end)) = (content.find('{'), content.rfind('}')) else {
        return Err("the model's message holds no JSON object".into());
    };
    if end < start {
        return Err("the model's message holds no JSON object".into());
    }
    let v: Value = serde_json::from_str(&content[start..=end])
        .map_err(|e| format!("the model's message is not the JSON asked for: {e}"))?;
    let list = v["suggestions"]
        .as_array()
        .ok_or("the model's message has no `suggestions` list")?;
    Ok(list
        .iter()
        .take(MAX_PROPOSALS)
        .map(|p| Proposal {
            why: p["why"].as_str().unwrap_or("").chars().take(500).collect(),
            rule: p["rule"].clone(),
        })
        .collect())
}

const SYSTEM_PROMPT: &str = r#"You propose layout changes for Cortex, a system that rewrites web pages per visitor. A page is a tree of modules (id, type). A rule changes one page for the visitors its conditions target. Propose at most 3 rules that could raise engagement, judging from the click counts per segment you are given. Answer with one JSON object and nothing else:
{"suggestions": [{"why": "one sentence with the numbers that support it", "rule": RULE}]}
RULE is {"id": "lowercase-words-with-dashes", "pageSlug": PAGE, "layoutId": PAGE, "layer": "module", "moduleId": NODE, "mutationType": TYPE, "mutationPayload": PAYLOAD, "conditions": CONDITION}
TYPE and PAYLOAD are one of: "reorder" {"target": NODE, "index": N}; "hide" {"target": NODE}; "props" {"target": NODE, "patch": {...}}.
CONDITION is a GrowthBook condition on the attributes device ("mobile", "tablet", "desktop") or source ("direct", "search", "social", "email", "paid", "referral"), e.g. {"device": "mobile"}.
Use only page slugs and node ids that appear in the pages below."#;

/// What the model is shown: each page's modules and the largest segment counts.
fn prompt(layouts: &[Layout], counts: &[SegmentCount]) -> String {
    fn tree(n: &Node, depth: usize, out: &mut String) {
        out.push_str(&format!(
            "{}{} ({})\n",
            "  ".repeat(depth),
            n.id.as_str(),
            n.kind
        ));
        for c in &n.children {
            tree(c, depth + 1, out);
        }
    }
    let mut out = String::from("Pages:\n");
    for l in layouts {
        out.push_str(&format!("page {}:\n", l.page_slug.as_str()));
        tree(&l.root, 1, &mut out);
    }
    out.push_str("\nEvents in the last 28 days (page, segment, kind, clicked node, count):\n");
    for c in counts.iter().take(MAX_COUNTS) {
        out.push_str(&format!(
            "{}, {}, {}, {}, {}\n",
            c.page,
            if c.segment.is_empty() {
                "-"
            } else {
                &c.segment
            },
            c.kind,
            if c.name.is_empty() { "-" } else { &c.name },
            c.count
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_are_read_from_fenced_or_wordy_answers_and_bounded() {
        let text =
            "Sure! ```json\n{\"suggestions\": [{\"why\": \"w\", \"rule\": {\"id\": \"a\"}}]}\n```";
        let p = parse_proposals(text).unwrap();
        assert_eq!(
            p,
            vec![Proposal {
                why: "w".into(),
                rule: json!({"id": "a"})
            }]
        );
        let many = json!({"suggestions": (0..20).map(|i| json!({"why": "x".repeat(900), "rule": {"id": i}})).collect::<Vec<_>>()});
        let p = parse_proposals(&many.to_string()).unwrap();
        assert_eq!(p.len(), MAX_PROPOSALS);
        assert_eq!(p[0].why.chars().count(), 500);
        for bad in ["no json here", "} {", "{\"rules\": []}", "{not json}"] {
            assert!(parse_proposals(bad).is_err(), "{bad}");
        }
    }
}
