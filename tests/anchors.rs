//! GitHub's heading anchors of a Markdown file, as the documentation's link test
//! (`tests/docs.rs`) checks them and as the rules' runbook links
//! (`crates/modeshare/tests/prometheus.rs`) point at them: one rule for both.

use std::collections::{HashMap, HashSet};

/// Which lines are inside fenced code blocks (``` or ~~~), fences included.
pub fn in_code(lines: &[&str]) -> Vec<bool> {
    let mut fence: Option<(char, usize)> = None;
    lines
        .iter()
        .map(|line| {
            let trimmed = line.trim_start_matches(' ');
            let indent = line.len() - trimmed.len();
            let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
            let run = marker.map_or(0, |m| trimmed.chars().take_while(|c| *c == m).count());
            match fence {
                Some((m, n)) => {
                    if marker == Some(m) && run >= n && trimmed[run..].trim().is_empty() {
                        fence = None;
                    }
                    true
                }
                None => {
                    if let Some(m) = marker
                        && run >= 3
                        && indent <= 3
                    {
                        fence = Some((m, run));
                        true
                    } else {
                        false
                    }
                }
            }
        })
        .collect()
}

/// `br`, `br/`, `/details`, `img`: an HTML tag name rather than a path.
pub fn looks_like_tag(inner: &str) -> bool {
    let name = inner.strip_prefix('/').unwrap_or(inner);
    let name = name.strip_suffix('/').unwrap_or(name);
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The anchors GitHub gives a Markdown file: one per heading (ATX `#` and setext underlines),
/// numbered `-1`, `-2`, … when a slug repeats, plus `id`/`name` attributes of HTML anchors.
pub fn heading_anchors(text: &str) -> HashSet<String> {
    let lines: Vec<&str> = text.lines().collect();
    let code = in_code(&lines);
    let mut slugger = Slugger::default();
    let mut anchors = HashSet::new();
    for (index, line) in lines.iter().enumerate() {
        if code[index] {
            continue;
        }
        if let Some(title) = atx_heading(line) {
            anchors.insert(slugger.slug(&plain_text(title)));
        } else if index > 0 && !code[index - 1] && is_setext_underline(line) {
            let above = lines[index - 1];
            if is_paragraph_line(above) {
                anchors.insert(slugger.slug(&plain_text(above.trim())));
            }
        }
        for attr in ["id=\"", "name=\""] {
            let mut rest = *line;
            while let Some(at) = rest.find("<a ") {
                let tag = &rest[at..rest[at..].find('>').map_or(rest.len(), |e| at + e)];
                if let Some(start) = tag.find(attr) {
                    let value = &tag[start + attr.len()..];
                    if let Some(end) = value.find('"') {
                        anchors.insert(value[..end].to_string());
                    }
                }
                rest = &rest[at + 3..];
            }
        }
    }
    anchors
}

/// The title of an ATX heading (`## Title ##`), if the line is one.
fn atx_heading(line: &str) -> Option<&str> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let level = trimmed.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &trimmed[level..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let title = rest.trim();
    // A closing sequence of `#` counts only after a space (or as the whole title).
    let stripped = title.trim_end_matches('#');
    let title = if stripped.is_empty() || stripped.ends_with([' ', '\t']) {
        stripped.trim_end()
    } else {
        title
    };
    Some(title)
}

fn is_setext_underline(line: &str) -> bool {
    let trimmed = line.trim();
    line.len() - line.trim_start_matches(' ').len() <= 3
        && !trimmed.is_empty()
        && (trimmed.chars().all(|c| c == '=') || trimmed.chars().all(|c| c == '-'))
}

/// A line that can be the text of a setext heading: not blank, not a list item, table row,
/// quote, heading or fence.
fn is_paragraph_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || line.len() - trimmed.len() > 3 {
        return false;
    }
    let numbered = trimmed.split_once(['.', ')']).is_some_and(|(n, rest)| {
        !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && rest.starts_with(' ')
    });
    !(numbered
        || ["- ", "* ", "+ ", "|", ">", "#", "```", "~~~", "<"]
            .iter()
            .any(|p| trimmed.starts_with(p)))
}

/// A heading's text as GitHub renders it: code spans keep their content, links and images their
/// text, HTML tags go.
pub fn plain_text(markdown: &str) -> String {
    let mut out = String::new();
    let mut rest = markdown;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            rest = &rest[1..];
            continue;
        }
        if c == '!' && rest[1..].starts_with('[') {
            rest = &rest[1..];
            continue;
        }
        if c == ']'
            && let Some(after) = rest[1..].strip_prefix('(')
            && let Some(close) = after.find(')')
        {
            rest = &after[close + 1..];
            continue;
        }
        if c == '<'
            && let Some(close) = rest.find('>')
            && looks_like_tag(rest[1..close].split_whitespace().next().unwrap_or(""))
        {
            rest = &rest[close + 1..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// GitHub's heading anchors (github-slugger): lowercase; letters, digits, `-` and `_` kept, other
/// punctuation and symbols dropped, each space a `-`; a repeated slug gets `-1`, `-2`, ….
#[derive(Default)]
pub struct Slugger {
    occurrences: HashMap<String, usize>,
}

impl Slugger {
    pub fn slug(&mut self, text: &str) -> String {
        let base = slug(text);
        let mut result = base.clone();
        while self.occurrences.contains_key(&result) {
            let n = self.occurrences.entry(base.clone()).or_insert(0);
            *n += 1;
            result = format!("{base}-{n}");
        }
        self.occurrences.insert(result.clone(), 0);
        result
    }
}

pub fn slug(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}
