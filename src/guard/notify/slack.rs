//! A Slack incoming webhook: Block Kit with what fired, the numbers, the example traces
//! and the next step. Text from traces and labels is escaped for mrkdwn (`&`, `<`, `>`),
//! so a label cannot mention @channel or forge a link.

use serde_json::{Value, json};

use super::super::outbox::{Action, Queued};

pub fn body(q: &Queued, workspace: &str) -> Value {
    let a = &q.alert;
    let (mark, verb) = match q.action {
        Action::Fire => (":rotating_light:", a.severity.as_str().to_uppercase()),
        Action::Resolve => (":white_check_mark:", "RESOLVED".to_string()),
    };
    let head = format!("{mark} [{verb}] {} · {}", a.name, escape(workspace));
    let mut fields = vec![
        json!({"type": "mrkdwn", "text": format!("*Versions*\n{}", escape(&a.versions_text()))}),
    ];
    if let Some(v) = a.value {
        let limit = a
            .threshold
            .map_or(String::new(), |t| format!(" (threshold {t})"));
        let n = a.n.map_or(String::new(), |n| format!(", n = {n}"));
        fields.push(json!({"type": "mrkdwn", "text": format!("*Value*\n{v:.4}{limit}{n}")}));
    }
    let traces = if a.traces.is_empty() {
        "no example traces".to_string()
    } else {
        a.traces
            .iter()
            .map(|t| format!("`{}`", escape(t)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    json!({
        "text": format!("[{verb}] {}", escape(&a.summary)),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": crate::text::clip(&head, 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": crate::text::clip(&escape(&format!("{}\n{}", a.summary, a.description)), 3000)}},
            {"type": "section", "fields": fields},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": format!("traces: {traces}")},
                {"type": "mrkdwn", "text": format!("next: `{}`", escape(&a.next_step))},
                {"type": "mrkdwn", "text": format!("audit head: {}", escape(&a.audit_text()))},
            ]},
        ],
    })
}

/// Slack's three control characters in mrkdwn.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::guard::Severity;
    use crate::guard::alert::Alert;

    #[test]
    fn labels_cannot_ping_the_channel_or_forge_links() {
        let mut a = Alert::new("RelopsTriggerFired", Severity::Critical, &[], 0);
        a.summary = "v3 <!channel> <https://evil|click>".into();
        a.value = Some(0.09);
        a.threshold = Some(0.04);
        a.n = Some(212);
        let q = Queued {
            id: 1,
            action: Action::Fire,
            alert: a,
            attempts: 0,
            created_ns: 0,
        };
        let v = body(&q, "demo");
        let text = v.to_string();
        assert!(
            !text.contains("<!channel>") && !text.contains("<https"),
            "{text}"
        );
        assert_eq!(v["blocks"][0]["type"], "header");
        assert!(
            v["blocks"][2]["fields"][1]["text"]
                .as_str()
                .unwrap()
                .contains("0.0900 (threshold 0.04), n = 212")
        );
    }
}
