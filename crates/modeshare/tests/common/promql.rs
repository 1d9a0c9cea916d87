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

/// The value after `key` on each line that starts with it (indentation aside): the names of
/// `- record:` or `- alert:` rules.
pub fn names_after(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .map(|n| n.trim().to_owned())
        .collect()
}

/// Every query of the shipped Grafana dashboard as (row title, PromQL), with the dashboard's
/// variables set to values modeshare publishes.
pub fn dashboard_queries() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(repo_root().join("deploy/grafana/dashboards/modeshare.json"))
            .unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let substitute = |expr: &str| {
        expr.replace("$zone", "Bærum")
            .replace("$window", "24h")
            .replace("$__rate_interval", "1m")
    };
    let mut out = Vec::new();
    let mut row = String::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            row = panel["title"].as_str().unwrap().to_owned();
            continue;
        }
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}: no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            out.push((format!("{row} / {}", panel["title"]), substitute(expr)));
        }
    }
    // Template variables: `label_values(METRIC, LABEL)` reads METRIC.
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.rsplit_once(','))
                .map(|(metric, _)| metric.trim())
                .unwrap();
            out.push((format!("variable {}", variable["name"]), inner.to_owned()));
        }
    }
    out
}

/// The metric names a PromQL expression reads: identifiers outside strings, label matchers,
/// ranges and grouping clauses that are neither functions nor keywords.
pub fn metric_names_in(expr: &str) -> Vec<String> {
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
                names.push(word);
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
