//! `kiln envs` for people: every environment with its channel, state, namespaces, apps, replicas and image
//! tags, as a table.

use super::table::{bold, table};
use crate::explain::EnvSummary;

/// `kiln envs` as a table: one row per component, headed in bold when `color` is set.
pub fn envs_text(envs: &[EnvSummary], color: bool) -> String {
    let mut rows = vec![[
        "ENVIRONMENT",
        "CHANNEL",
        "STATE",
        "NAMESPACE",
        "APP",
        "COMPONENT",
        "REPLICAS",
        "TAG",
    ]
    .map(str::to_owned)
    .to_vec()];
    for env in envs {
        let head = |namespace: &str| {
            vec![
                env.name.clone(),
                json_word(&env.channel),
                json_word(&env.state),
                namespace.to_owned(),
            ]
        };
        for app in &env.apps {
            let replicas = match app.declared_replicas {
                Some(declared) => format!("{} ({declared} declared)", app.replicas),
                None => app.replicas.to_string(),
            };
            let mut row = head(&app.namespace);
            row.extend([
                app.app.clone(),
                app.component.clone(),
                replicas,
                app.tag.clone(),
            ]);
            rows.push(row);
        }
        for nd in &env.not_deployed {
            let mut row = head("-");
            row.extend([
                nd.app.clone(),
                "-".into(),
                "-".into(),
                format!("not deployed: {}", nd.reason),
            ]);
            rows.push(row);
        }
        if env.apps.is_empty() && env.not_deployed.is_empty() {
            let mut row = head(&env.namespace);
            row.extend(["-", "-", "-", "-"].map(str::to_owned));
            rows.push(row);
        }
    }
    let text = table(&rows, "");
    match text.split_once('\n') {
        Some((header, rest)) => format!("{}\n{rest}", bold(header, color)),
        None => text,
    }
}

/// A unit enum's serde name (`stable`, `closed`).
fn json_word(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}
