//! PromQL as the shipped files hold it: the Grafana dashboard's queries, the rules' names and
//! expressions, and the metric names an expression reads — read as text, without a PromQL
//! parser (promtool parses; these say what the queries read).

use std::collections::BTreeSet;

use serde_json::Value;

use super::repo_root;

/// The shipped rules file (`deploy/prometheus/rules/modeshare.yml`) as text.
pub fn shipped_rules() -> String {
    std::fs::read_to_string(repo_root().join("deploy/prometheus/rules/modeshare.yml")).unwrap()
}

/// The recorded names of the shipped rules.
pub fn recorded_names() -> BTreeSet<String> {
    names_after(&shipped_rules(), "- record:")
        .into_iter()
        .collect()
}

/// Each alert of a rules file with the values of its `runbook_url:` annotation lines (an alert
/// runs from its `- alert:` line to the next rule or group).
pub fn alert_runbooks(rules: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_alert = false;
    for line in rules.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            out.push((name.trim().to_owned(), Vec::new()));
            in_alert = true;
        } else if trimmed.starts_with("- record:") || trimmed.starts_with("- name:") {
            in_alert = false;
        } else if let Some(url) = trimmed.strip_prefix("runbook_url:")
            && in_alert
        {
            let url = url.trim().trim_matches(|c| c == '"' || c == '\'');
            out.last_mut().unwrap().1.push(url.to_owned());
        }
    }
    out
}

/// The value after `key` on each line that starts with it (indentation aside): the names of
/// `- record:` or `- alert:` rules.
pub fn names_after(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .map(|n| n.trim().to_owned())
        .collect()
}

/// The shipped Grafana dashboard (`deploy/grafana/dashboards/modeshare.json`).
pub fn dashboard() -> Value {
    let text =
        std::fs::read_to_string(repo_root().join("deploy/grafana/dashboards/modeshare.json"))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A template variable of the dashboard filled by `label_values(METRIC, LABEL)`.
#[derive(Debug)]
pub struct Variable {
    pub name: String,
    pub metric: String,
    pub label: String,
    /// The value the dashboard opens with (`$__all` for all of a multi-value variable).
    pub default: String,
    /// Whether several values, or all, can be chosen (Grafana's `multi` or `includeAll`).
    pub multi: bool,
}

/// The dashboard's query variables, in its order.
pub fn dashboard_variables() -> Vec<Variable> {
    let dashboard = dashboard();
    let mut out = Vec::new();
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] != "query" {
            continue;
        }
        let name = variable["name"].as_str().unwrap().to_owned();
        let query = variable["query"]["query"].as_str().unwrap();
        let (metric, label) = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .and_then(|q| q.rsplit_once(','))
            .unwrap_or_else(|| {
                panic!("variable {name}: {query} is not label_values(METRIC, LABEL)")
            });
        assert_eq!(
            variable["definition"].as_str(),
            Some(query),
            "variable {name}: the definition Grafana shows is the query"
        );
        let current = &variable["current"]["value"];
        let default = current
            .as_str()
            .or_else(|| current[0].as_str())
            .unwrap_or_else(|| panic!("variable {name}: no current value"))
            .to_owned();
        out.push(Variable {
            name,
            metric: metric.trim().to_owned(),
            label: label.trim().to_owned(),
            default,
            multi: variable["multi"] == true || variable["includeAll"] == true,
        });
    }
    out
}

/// One query of a panel, as the dashboard holds it (with its `$variables`).
#[derive(Debug)]
pub struct PanelQuery {
    /// The title of the row the panel is in.
    pub row: String,
    /// The variable the panel's row, or the panel itself, repeats over.
    pub repeat: Option<String>,
    pub panel: String,
    pub expr: String,
}

impl PanelQuery {
    /// Where the query is, for messages: "row / panel".
    pub fn place(&self) -> String {
        format!("{} / {}", self.row, self.panel)
    }
}

/// Every panel query of the dashboard, in its order; rows hold the panels after them (or, when
/// collapsed, in their own `panels`). Text panels have no query.
pub fn panel_queries() -> Vec<PanelQuery> {
    let dashboard = dashboard();
    let mut out = Vec::new();
    let mut row = (String::new(), None::<String>);
    let mut add = |panel: &Value, row: &(String, Option<String>)| {
        if panel["type"] == "text" {
            return;
        }
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}: no query", panel["title"]);
        for target in targets {
            out.push(PanelQuery {
                row: row.0.clone(),
                repeat: panel["repeat"]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| row.1.clone()),
                panel: panel["title"].as_str().unwrap().to_owned(),
                expr: target["expr"].as_str().unwrap().to_owned(),
            });
        }
    };
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            row = (
                panel["title"].as_str().unwrap().to_owned(),
                panel["repeat"].as_str().map(str::to_owned),
            );
            for inner in panel["panels"].as_array().into_iter().flatten() {
                add(inner, &row);
            }
            continue;
        }
        add(panel, &row);
    }
    out
}

/// `expr` with the dashboard's variables set to `values` (by name) and Grafana's
/// `$__rate_interval` to a minute; fails on a variable left unset.
pub fn substitute(expr: &str, values: &[(&str, &str)]) -> String {
    let mut out = expr.replace("$__rate_interval", "1m");
    // Longer names first, so that no name is replaced inside a longer one.
    let mut values = values.to_vec();
    values.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    for (name, value) in values {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    assert!(
        !out.contains('$'),
        "a variable is left in {out} (from {expr})"
    );
    out
}

/// Values of the dashboard's variables that modeshare's default configuration publishes.
pub const EXAMPLE_VALUES: [(&str, &str); 4] = [
    ("job", "modeshare"),
    ("zone", "Bærum"),
    ("window", "24h"),
    ("group", "sustainable"),
];

/// Every query of the shipped Grafana dashboard as (row / panel, PromQL), with the dashboard's
/// variables set to values modeshare publishes ([`EXAMPLE_VALUES`]), and the metric each
/// variable's `label_values` reads.
pub fn dashboard_queries() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = panel_queries()
        .iter()
        .map(|q| (q.place(), substitute(&q.expr, &EXAMPLE_VALUES)))
        .collect();
    // Template variables: `label_values(METRIC, LABEL)` reads METRIC.
    for variable in dashboard_variables() {
        out.push((format!("variable {}", variable.name), variable.metric));
    }
    out
}

/// The metric names a PromQL expression reads: identifiers outside strings, label matchers,
/// ranges and grouping clauses that are neither functions nor keywords.
pub fn metric_names_in(expr: &str) -> Vec<String> {
    selectors_in(expr)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// The series selectors of a PromQL expression: each metric name it reads (as
/// [`metric_names_in`]) with the label matchers right after it, `{…}` without the braces (empty
/// where it has none).
pub fn selectors_in(expr: &str) -> Vec<(String, String)> {
    const GROUPING: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    // Aggregations may take their grouping before the parenthesis: `sum by (zone) (…)`.
    const KEYWORDS: [&str; 19] = [
        "bool",
        "offset",
        "and",
        "or",
        "unless",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    // Skips from an opening bracket to its closing one, over quoted strings.
    let skip_group = |mut i: usize, open: char, close: char| -> usize {
        let mut depth = 0;
        while i < chars.len() {
            match chars[i] {
                '"' | '\'' | '`' => {
                    let quote = chars[i];
                    i += 1;
                    while i < chars.len() && chars[i] != quote {
                        i += if chars[i] == '\\' { 2 } else { 1 };
                    }
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip_group(i, '{', '}');
        } else if c == '[' {
            i = skip_group(i, '[', ']');
        } else if c == '"' || c == '\'' || c == '`' {
            i = skip_group(i, c, c);
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let called = chars.get(next) == Some(&'(');
            if GROUPING.contains(&word.as_str()) {
                if called {
                    i = skip_group(next, '(', ')');
                }
            } else if !called && !KEYWORDS.contains(&word.to_lowercase().as_str()) {
                let matchers = if chars.get(next) == Some(&'{') {
                    let end = skip_group(next, '{', '}');
                    i = end;
                    chars[next + 1..end - 1].iter().collect()
                } else {
                    String::new()
                };
                names.push((word, matchers));
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The `expr:` values of a rules file: inline, or a `|` block of the lines indented deeper.
pub fn rule_expressions(rules: &str) -> Vec<String> {
    let lines: Vec<&str> = rules.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let indent = line.len() - line.trim_start().len();
        if value.trim() == "|" {
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.len() - l.trim_start().len() > indent)
                .copied()
                .collect();
            out.push(block.join("\n"));
        } else {
            out.push(value.trim().to_owned());
        }
    }
    out
}
