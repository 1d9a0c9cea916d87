//! The documentation's links hold. Every Markdown file of the repository (outside `target/`,
//! `.git` and hidden folders) is read for links and images `[text](target)`, reference
//! definitions `[name]: target` and `<path>` links; every relative target must exist, and every
//! `#anchor` — in the same file or in `page.md#anchor` — must name a heading of its target, by
//! GitHub's rules for heading anchors. Source files that cite `docs/<page>.md` or
//! `docs/<page>.md#anchor` must name a page and heading that exist, and nothing may cite a
//! design file at the repository root: the design is `docs/design.md`.
//!
//! Web addresses (`http:`, `https:`, `mailto:` and other schemes) are not followed. Each failure
//! names the file and line of every broken link.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use modeshare_tests::anchors::{
    Slugger, heading_anchors, in_code, looks_like_tag, plain_text, slug,
};
use modeshare_tests::repo_root;

/// Extensions of the source files whose `docs/<page>.md` citations are checked; scripts without
/// an extension are recognised by their `#!` line.
const SOURCE_EXTENSIONS: &[&str] = &["rs", "json", "toml", "sh", "yml", "yaml"];

/// The old design file's name, built so that this file does not cite it.
const ROOT_DESIGN: &str = concat!("DESIGN", ".md");

#[test]
fn markdown_links_and_anchors_resolve() {
    let repo = Repo::new();
    let mut broken = Vec::new();
    let mut links = 0;
    for file in &repo.markdown {
        let text = repo.read(file);
        for link in markdown_links(&text) {
            links += 1;
            if let Some(problem) = repo.check_link(file, &link.target) {
                broken.push(format!("{}:{}: {problem}", repo.show(file), link.line));
            }
        }
    }
    assert!(
        repo.markdown.len() >= 10 && links >= 100,
        "only {} Markdown files and {links} links found under {}: is the walk broken?",
        repo.markdown.len(),
        repo.root.display()
    );
    println!(
        "{links} links in {} Markdown files checked",
        repo.markdown.len()
    );
    report(
        "broken links in Markdown files (target or #anchor missing)",
        broken,
    );
}

#[test]
fn source_citations_of_docs_pages_resolve() {
    let repo = Repo::new();
    let mut broken = Vec::new();
    let mut citations = 0;
    for file in &repo.sources {
        let text = repo.read(file);
        for (index, line) in text.lines().enumerate() {
            for cited in docs_citations(line) {
                citations += 1;
                let target = match &cited.anchor {
                    Some(anchor) => format!("{}#{anchor}", cited.page),
                    None => cited.page.clone(),
                };
                let root_file = repo.root.join("README.md");
                if let Some(problem) = repo.check_link(&root_file, &target) {
                    broken.push(format!("{}:{}: {problem}", repo.show(file), index + 1));
                }
            }
        }
    }
    assert!(
        citations >= 3,
        "only {citations} citations of docs/ pages found in source files: is the scan broken?"
    );
    println!(
        "{citations} citations of docs/ pages in {} source files checked",
        repo.sources.len()
    );
    report(
        "citations in source files of a docs/ page or heading that does not exist",
        broken,
    );
}

#[test]
fn nothing_cites_a_design_file_at_the_root() {
    let repo = Repo::new();
    let mut broken = Vec::new();
    for file in repo.markdown.iter().chain(&repo.sources) {
        let text = repo.read(file);
        for (index, line) in text.lines().enumerate() {
            if cites_root_design(line) {
                broken.push(format!(
                    "{}:{}: cites {ROOT_DESIGN}, which is not in the repository; cite docs/design.md \
                     (keep the section name)",
                    repo.show(file),
                    index + 1
                ));
            }
        }
    }
    report(
        &format!("citations of a {ROOT_DESIGN} at the repository root"),
        broken,
    );
}

fn report(what: &str, mut broken: Vec<String>) {
    broken.sort();
    broken.dedup();
    assert!(
        broken.is_empty(),
        "{what} ({}):\n  {}",
        broken.len(),
        broken.join("\n  ")
    );
}

/// The repository's Markdown and source files, and the anchors of the pages links point at.
struct Repo {
    root: PathBuf,
    markdown: Vec<PathBuf>,
    sources: Vec<PathBuf>,
    anchors: std::cell::RefCell<HashMap<PathBuf, HashSet<String>>>,
}

impl Repo {
    fn new() -> Repo {
        let root = repo_root()
            .canonicalize()
            .unwrap_or_else(|e| panic!("repository root {}: {e}", repo_root().display()));
        let mut files = Vec::new();
        walk(&root, &mut files);
        let markdown = files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .cloned()
            .collect();
        let sources = files.into_iter().filter(|p| is_source(p)).collect();
        Repo {
            root,
            markdown,
            sources,
            anchors: Default::default(),
        }
    }

    fn read(&self, file: &Path) -> String {
        let bytes = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn show(&self, file: &Path) -> String {
        file.strip_prefix(&self.root)
            .unwrap_or(file)
            .display()
            .to_string()
    }

    /// What is wrong with `target` as written in `from`, if anything.
    fn check_link(&self, from: &Path, target: &str) -> Option<String> {
        if is_external(target) {
            return None;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((path, anchor)) => (path, Some(percent_decode(anchor))),
            None => (target, None),
        };
        let path = percent_decode(path.split('?').next().unwrap_or(""));
        let file = if path.is_empty() {
            if anchor.is_none() {
                return Some("empty link target".to_string());
            }
            from.to_path_buf()
        } else {
            let base = match path.strip_prefix('/') {
                Some(rest) => self.root.join(rest),
                None => from.parent().unwrap_or(&self.root).join(&path),
            };
            match normalize(&base) {
                Some(file) if file.starts_with(&self.root) => file,
                _ => return Some(format!("{target}: points outside the repository")),
            }
        };
        if !file.exists() {
            return Some(format!("{target}: {} does not exist", self.show(&file)));
        }
        let anchor = anchor.filter(|a| !a.is_empty())?;
        if !file.is_file() || file.extension().is_none_or(|e| e != "md") {
            return None;
        }
        let mut cache = self.anchors.borrow_mut();
        let anchors = cache
            .entry(file.clone())
            .or_insert_with(|| heading_anchors(&self.read(&file)));
        if anchors.contains(&anchor) {
            return None;
        }
        let mut near: Vec<&String> = anchors
            .iter()
            .filter(|a| a.contains(&anchor) || anchor.contains(a.as_str()))
            .collect();
        near.sort();
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!(
                " (similar: {})",
                near.iter()
                    .map(|a| format!("#{a}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Some(format!(
            "{target}: {} has no heading with anchor #{anchor}{hint}",
            self.show(&file)
        ))
    }
}

/// Every file under `dir`, skipping `target/` at any depth and hidden folders such as `.git`.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap_or_else(|e| panic!("{}: {e}", dir.display())))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().unwrap_or_else(|e| panic!("{name}: {e}"));
        if kind.is_dir() {
            if name != "target" && !name.starts_with('.') {
                walk(&entry.path(), out);
            }
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
}

fn is_source(path: &Path) -> bool {
    if let Some(ext) = path.extension() {
        return SOURCE_EXTENSIONS.iter().any(|e| ext == *e);
    }
    let hidden = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'));
    !hidden && fs::read(path).is_ok_and(|bytes| bytes.starts_with(b"#!"))
}

/// `scheme:…` (http, https, mailto, …) or `//host/…`: not a file of this repository.
fn is_external(target: &str) -> bool {
    if target.starts_with("//") {
        return true;
    }
    let Some((scheme, _)) = target.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
}

/// `a/b/../c` → `a/c`, without touching the file system; `None` when `..` climbs above `/`.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            other => out.push(other),
        }
    }
    Some(out)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A link found in Markdown: where it is and what it points at.
#[derive(Debug, PartialEq)]
struct Link {
    line: usize,
    target: String,
}

/// The line with its inline code spans (`` `…` ``, ``` ``…`` ```) blanked out.
fn without_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = chars.clone();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|c| **c == '`').count();
        let mut j = i + run;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let r = chars[j..].iter().take_while(|c| **c == '`').count();
                if r == run {
                    close = Some(j);
                    break;
                }
                j += r;
            } else {
                j += 1;
            }
        }
        match close {
            Some(j) => {
                for c in &mut out[i..j + run] {
                    *c = ' ';
                }
                i = j + run;
            }
            None => i += run,
        }
    }
    out.into_iter().collect()
}

/// Every link target of a Markdown text, with its line number (from 1).
fn markdown_links(text: &str) -> Vec<Link> {
    let lines: Vec<&str> = text.lines().collect();
    let code = in_code(&lines);
    let mut links = Vec::new();
    for (index, raw) in lines.iter().enumerate() {
        if code[index] {
            continue;
        }
        let line = without_code_spans(raw);
        let mut found = |target: String| {
            links.push(Link {
                line: index + 1,
                target,
            })
        };
        // Reference definitions: `[name]: target`.
        let trimmed = line.trim_start();
        if trimmed.starts_with('[')
            && line.len() - trimmed.len() <= 3
            && let Some(end) = trimmed.find("]:")
            && !trimmed[1..end].contains('[')
        {
            if let Some(target) = trimmed[end + 2..].split_whitespace().next() {
                found(
                    target
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string(),
                );
            }
            continue;
        }
        // Inline links and images: `](target)` or `](<target> "title")`.
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let dest = after.trim_start();
            let target = if let Some(inner) = dest.strip_prefix('<') {
                inner.split('>').next().unwrap_or("").to_string()
            } else {
                let mut depth = 0usize;
                let mut end = dest.len();
                for (i, c) in dest.char_indices() {
                    match c {
                        '(' => depth += 1,
                        ')' if depth == 0 => {
                            end = i;
                            break;
                        }
                        ')' => depth -= 1,
                        c if c.is_whitespace() => {
                            end = i;
                            break;
                        }
                        _ => {}
                    }
                }
                dest[..end].to_string()
            };
            found(target);
            rest = after;
        }
        // `<path>` links; `<https://…>` autolinks, e-mail addresses and HTML tags are not paths.
        let mut rest = line.as_str();
        while let Some(at) = rest.find('<') {
            let after = &rest[at + 1..];
            rest = after;
            if line_before(&line, after).ends_with("](<") {
                continue;
            }
            let Some(end) = after.find('>') else { break };
            let inner = &after[..end];
            if inner.is_empty()
                || inner.chars().any(char::is_whitespace)
                || inner.contains('<')
                || inner.contains('@')
                || inner.starts_with('!')
                || is_external(inner)
                || looks_like_tag(inner)
            {
                continue;
            }
            if inner.contains('.') || inner.contains('/') || inner.contains('#') {
                found(inner.to_string());
            }
        }
    }
    links
}

/// The part of `line` before the suffix `rest` (a slice of it), with the `<` that precedes it.
fn line_before<'a>(line: &'a str, rest: &str) -> &'a str {
    &line[..line.len() - rest.len()]
}

/// A `docs/<page>.md[#anchor]` cited in a source file.
#[derive(Debug, PartialEq)]
struct Citation {
    page: String,
    anchor: Option<String>,
}

fn docs_citations(line: &str) -> Vec<Citation> {
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "_-./".contains(c);
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = line[from..].find("docs/").map(|i| from + i) {
        from = at + "docs/".len();
        if line[..at].chars().next_back().is_some_and(is_path_char) {
            continue;
        }
        let run: String = line[from..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "_-.".contains(*c))
            .collect();
        // A full stop after the name ends the sentence, not the name.
        let name = run.trim_end_matches('.');
        let Some(stem) = name.strip_suffix(".md") else {
            continue;
        };
        if stem.is_empty() {
            continue;
        }
        let after = &line[from + name.len()..];
        let anchor = after.strip_prefix('#').map(|a| {
            a.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                .collect::<String>()
        });
        out.push(Citation {
            page: format!("docs/{name}"),
            anchor: anchor.filter(|a| !a.is_empty()),
        });
    }
    out
}

/// Whether the line names the design file as if it sat at the repository root (not as part of a
/// longer path such as `docs/…`).
fn cites_root_design(line: &str) -> bool {
    line.match_indices(ROOT_DESIGN).any(|(at, _)| {
        !line[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
    })
}

// The checker's own pieces, on inputs whose answers are known.

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug("Interfaces (contracts that outside tools rely on — keep them stable)"),
        "interfaces-contracts-that-outside-tools-rely-on--keep-them-stable"
    );
    assert_eq!(
        slug(&plain_text("`/api/cells`, `/api/od` and `/api/stops`")),
        "apicells-apiod-and-apistops"
    );
    assert_eq!(
        slug(&plain_text("Operator CSV exports (`csv:NAME`)")),
        "operator-csv-exports-csvname"
    );
    assert_eq!(
        slug("Bærum's goals, and what a change affects"),
        "bærums-goals-and-what-a-change-affects"
    );
    assert_eq!(
        slug("snake_case and kebab-case"),
        "snake_case-and-kebab-case"
    );
    let mut slugger = Slugger::default();
    let repeated: Vec<String> = ["Notes", "Notes", "Notes-1", "Notes"]
        .iter()
        .map(|t| slugger.slug(t))
        .collect();
    assert_eq!(repeated, ["notes", "notes-1", "notes-1-1", "notes-2"]);
}

#[test]
fn headings_outside_code_become_anchors() {
    let text = "# Title\n\nSetext\n------\n\n```toml\n# not a heading\n```\n\n## Title ##\n\
                <a name=\"kept\"></a>\n#hashtag\n";
    let mut anchors: Vec<String> = heading_anchors(text).into_iter().collect();
    anchors.sort();
    assert_eq!(anchors, ["kept", "setext", "title", "title-1"]);
}

#[test]
fn links_are_found_where_markdown_has_them() {
    let text = "See [a](a.md#x) and ![img](pic.png \"title\"), [b](<with space.md>).\n\
                `[not](code.md)` and <docs/design.md>, <https://example.org>, <br/>.\n\
                ```\n[not](fenced.md)\n```\n\
                [ref]: ref.md#y\n\
                [nested [brackets]](paren_(1).md)\n";
    let found: Vec<(usize, String)> = markdown_links(text)
        .into_iter()
        .map(|l| (l.line, l.target))
        .collect();
    assert_eq!(
        found,
        [
            (1, "a.md#x".to_string()),
            (1, "pic.png".to_string()),
            (1, "with space.md".to_string()),
            (2, "docs/design.md".to_string()),
            (6, "ref.md#y".to_string()),
            (7, "paren_(1).md".to_string()),
        ]
    );
}

#[test]
fn broken_targets_and_anchors_are_named() {
    let repo = Repo::new();
    let readme = repo.root.join("README.md");
    assert_eq!(repo.check_link(&readme, "docs/design.md"), None);
    assert_eq!(
        repo.check_link(&readme, "https://example.org/none.md"),
        None
    );
    assert_eq!(repo.check_link(&readme, "#quick-start"), None);
    // Built from parts so that this file does not cite a missing page itself.
    let page = ["docs", "no-such-page.md"].join("/");
    let missing = repo.check_link(&readme, &page).unwrap();
    assert!(
        missing.contains(&format!("{page} does not exist")),
        "{missing}"
    );
    let anchor = repo.check_link(&readme, "#no-such-heading").unwrap();
    assert!(
        anchor.contains("no heading with anchor #no-such-heading"),
        "{anchor}"
    );
    let outside = repo.check_link(&readme, "../../etc/passwd").unwrap();
    assert!(outside.contains("outside the repository"), "{outside}");
}

#[test]
fn source_citations_are_found() {
    let line = "/// As docs/metrics.md#prometheus-rules-and-alerts says (and docs/design.md, \
                \"Interfaces\"); not crates/x/docs/other.md or docs/live-page.png.";
    assert_eq!(
        docs_citations(line),
        [
            Citation {
                page: "docs/metrics.md".into(),
                anchor: Some("prometheus-rules-and-alerts".into()),
            },
            Citation {
                page: "docs/design.md".into(),
                anchor: None,
            },
        ]
    );
    assert!(cites_root_design(&format!(
        "// ({ROOT_DESIGN} \"Interfaces\")"
    )));
    assert!(!cites_root_design("// (docs/design.md \"Interfaces\")"));
    assert!(!cites_root_design(&format!("// see docs/{ROOT_DESIGN}")));
}
