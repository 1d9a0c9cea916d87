//! The container image without Docker: what the build context holds, and what the image's
//! `/etc/modeshare` lets the shipped configurations find.
//!
//! The context is the repository root (`docker build -f deploy/Dockerfile .`) and
//! `.dockerignore` is an allowlist. A clean clone of the repository, with build output added where
//! a developer's would be, is filtered with Docker's rules (moby's patternmatcher, implemented
//! below for the patterns the file uses): nothing of `target/` or `.git/` gets in, every `COPY`
//! of `deploy/Dockerfile` finds its files, every file the sources embed (`include_str!`) is
//! there, and the whole stays small. Then `/etc/modeshare` is laid out as the runtime stage's
//! `COPY` lines say, and every shipped configuration in it loads from the image's working
//! directory, its relative paths resolved from its own folder.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{TempDir, repo_root};

/// One line of `.dockerignore`: a glob over the slash-separated path relative to the context
/// root; `!` lets in again what an earlier line left out.
#[derive(Debug)]
struct Pattern {
    reinclude: bool,
    segments: Vec<String>,
}

/// The patterns of a `.dockerignore`, cleaned as moby does (a leading `/`, `.` segments and
/// doubled slashes removed). Character classes and escapes are refused: this matcher does not
/// implement them.
fn patterns(dockerignore: &str) -> Vec<Pattern> {
    let mut out = vec![];
    for line in dockerignore.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (reinclude, glob) = match line.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        assert!(
            !glob.contains(['[', '\\']) && !glob.split('/').any(|s| s == ".."),
            "{line:?}: character classes, escapes and `..` are not implemented by this test"
        );
        let segments: Vec<String> = glob
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .map(str::to_owned)
            .collect();
        assert!(!segments.is_empty(), "{line:?}: an empty pattern");
        out.push(Pattern {
            reinclude,
            segments,
        });
    }
    out
}

/// Go's `filepath.Match` on one path segment: `*` any run of characters, `?` one character.
fn segment_matches(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|i| segment_matches(rest, &name[i..])),
        Some(('?', rest)) => !name.is_empty() && segment_matches(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && segment_matches(rest, &name[1..]),
    }
}

/// The whole path against the whole pattern; a `**` segment matches any number of segments,
/// none included.
fn path_matches(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((glob, rest)) if glob == "**" => {
            (0..=path.len()).any(|i| path_matches(rest, &path[i..]))
        }
        Some((glob, rest)) => {
            let Some((name, path_rest)) = path.split_first() else {
                return false;
            };
            let glob: Vec<char> = glob.chars().collect();
            let name: Vec<char> = name.chars().collect();
            segment_matches(&glob, &name) && path_matches(rest, path_rest)
        }
    }
}

/// Whether a file goes into the context: the last pattern that matches the path, or a folder
/// above it, decides.
fn included(patterns: &[Pattern], path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    let mut excluded = false;
    for pattern in patterns {
        let hit = (1..=segments.len()).any(|n| path_matches(&pattern.segments, &segments[..n]));
        if hit {
            excluded = !pattern.reinclude;
        }
    }
    !excluded
}

/// Every file under `root` (symbolic links as files, never followed), as slash-separated
/// relative paths with their sizes.
fn files_under(root: &Path) -> Vec<(String, u64)> {
    let mut out = vec![];
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                folders.push(entry.path());
                continue;
            }
            let relative = entry.path().strip_prefix(root).unwrap().to_owned();
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push((parts.join("/"), entry.metadata().unwrap().len()));
        }
    }
    out.sort();
    out
}

/// A Dockerfile's instructions, continuation lines joined, comments left out.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = vec![];
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

/// A `COPY`: the stage it copies from (`--from`), its sources and its destination.
#[derive(Debug)]
struct Copy {
    from: Option<String>,
    sources: Vec<String>,
    destination: String,
}

fn copies(dockerfile: &str) -> Vec<Copy> {
    let mut out = vec![];
    for instruction in instructions(dockerfile) {
        let mut words = instruction.split_whitespace();
        if !words.next().unwrap().eq_ignore_ascii_case("COPY") {
            continue;
        }
        let mut from = None;
        let mut paths = vec![];
        for word in words {
            if let Some(stage) = word.strip_prefix("--from=") {
                from = Some(stage.to_owned());
            } else if !word.starts_with("--") {
                assert!(
                    !word.starts_with('['),
                    "{instruction}: JSON form not read here"
                );
                paths.push(word.to_owned());
            }
        }
        let destination = paths.pop().unwrap();
        out.push(Copy {
            from,
            sources: paths,
            destination,
        });
    }
    out
}

/// The files the workspace's sources embed with `include_str!` / `include_bytes!`, as paths
/// relative to the repository root.
fn embedded_files(files: &[(String, u64)], root: &Path) -> Vec<String> {
    let mut out = vec![];
    for (path, _) in files {
        if !(path.starts_with("crates/") && path.contains("/src/") && path.ends_with(".rs")) {
            continue;
        }
        let text = std::fs::read_to_string(root.join(path)).unwrap();
        for macro_name in ["include_str!(\"", "include_bytes!(\""] {
            for (at, _) in text.match_indices(macro_name) {
                let rest = &text[at + macro_name.len()..];
                let literal = &rest[..rest.find('"').unwrap()];
                let mut parts: Vec<&str> = path.split('/').collect();
                parts.pop();
                for segment in literal.split('/') {
                    match segment {
                        ".." => {
                            parts.pop();
                        }
                        "." => {}
                        s => parts.push(s),
                    }
                }
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What is wrong with the context a `.dockerignore` leaves of `files` for `dockerfile`: build
/// output or the repository's history let in, a `COPY` (from the context) that finds nothing, an
/// embedded file left out. Empty when the context is right.
fn context_problems(dockerignore: &str, dockerfile: &str, files: &[(String, u64)]) -> Vec<String> {
    let rules = patterns(dockerignore);
    let passing: Vec<&str> = files
        .iter()
        .map(|(p, _)| p.as_str())
        .filter(|p| included(&rules, p))
        .collect();
    let mut problems = vec![];
    for path in &passing {
        let segments: Vec<&str> = path.split('/').collect();
        if segments.first() == Some(&".git") || segments.contains(&"target") {
            problems.push(format!("{path} is in the context"));
        }
    }
    for copy in copies(dockerfile).iter().filter(|c| c.from.is_none()) {
        for source in &copy.sources {
            let source = source.trim_start_matches("./").trim_end_matches('/');
            let inside = format!("{source}/");
            let exists = files
                .iter()
                .any(|(p, _)| p == source || p.starts_with(&inside));
            let passes = passing
                .iter()
                .any(|p| *p == source || p.starts_with(&inside));
            if !exists {
                problems.push(format!(
                    "COPY {source}: not in the repository (the context is a clean clone: \
                     commit new files)"
                ));
            } else if !passes {
                problems.push(format!("COPY {source}: left out by .dockerignore"));
            }
        }
    }
    problems
}

/// A clean clone of the repository, with build output where a developer's would be.
fn cloned_context(dir: &TempDir) -> PathBuf {
    let clone = dir.path().join("context");
    let status = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(repo_root().canonicalize().unwrap())
        .arg(&clone)
        .status()
        .expect("git is needed to clone the repository");
    assert!(status.success(), "git clone: {status}");
    for output in [
        "target/release/modeshare",
        "crates/modeshare/target/debug/modeshare",
    ] {
        let path = clone.join(output);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"build output").unwrap();
    }
    clone
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap()
}

#[test]
fn the_matcher_follows_dockers_rules() {
    let rules = patterns(
        "# a comment\n*\n!crates\n!deploy/container.toml\ncrates/*/tests\n**/target\n!keep/**/x?.toml\n",
    );
    for (path, expected) in [
        ("Cargo.toml", false),
        (".git/HEAD", false),
        ("docs/metrics.md", false),
        ("crates/core/src/lib.rs", true),
        ("crates/modeshare/tests/container.rs", false),
        ("crates/modeshare/src/tests/x.rs", true),
        ("crates/modeshare/target/debug/modeshare", false),
        ("target/release/modeshare", false),
        ("deploy/container.toml", true),
        ("deploy/Dockerfile", false),
        ("keep/x1.toml", true),
        ("keep/a/b/xy.toml", true),
        ("keep/a/b/xyz.toml", false),
    ] {
        assert_eq!(included(&rules, path), expected, "{path}");
    }
    // The last match wins, whichever way.
    assert!(included(&patterns("*\n!a\n"), "a/b"));
    assert!(!included(&patterns("!a\n*\n"), "a/b"));
    // `*` stays within a segment.
    assert!(!path_matches(&patterns("a*")[0].segments, &["ab", "c"]));
}

#[test]
fn the_copy_lines_are_read_with_their_continuations() {
    let dockerfile = "FROM x AS build\n# COPY not/this\nCOPY a \\\n  b c/\nCOPY --chown=1:1 d e\nRUN true\nFROM y\nCOPY --from=build /src/f /g\n";
    let found: Vec<_> = copies(dockerfile)
        .into_iter()
        .map(|c| (c.from, c.sources, c.destination))
        .collect();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        found,
        [
            (None, s(&["a", "b"]), "c/".to_owned()),
            (None, s(&["d"]), "e".to_owned()),
            (Some("build".to_owned()), s(&["/src/f"]), "/g".to_owned()),
        ]
    );
}

#[test]
fn the_build_context_holds_what_the_dockerfile_copies_and_nothing_else() {
    let dir = TempDir::new("container-context");
    let clone = cloned_context(&dir);
    let files = files_under(&clone);
    assert!(files.iter().any(|(p, _)| p == ".git/HEAD"));
    assert!(files.iter().any(|(p, _)| p.starts_with("target/")));
    let dockerignore = read(".dockerignore");
    let dockerfile = read("deploy/Dockerfile");
    let problems = context_problems(&dockerignore, &dockerfile, &files);
    assert!(problems.is_empty(), "{problems:#?}");

    let rules = patterns(&dockerignore);
    let passing: Vec<&(String, u64)> = files.iter().filter(|(p, _)| included(&rules, p)).collect();
    // Every file the sources embed is in the context (COPY crates, COPY config), and so are the
    // manifests of every workspace member.
    let embedded = embedded_files(&files, &clone);
    assert!(
        embedded.contains(&"config/default.toml".to_owned()),
        "{embedded:?}"
    );
    for file in &embedded {
        assert!(
            passing.iter().any(|(p, _)| p == file),
            "{file} is embedded but left out of the context"
        );
    }
    for manifest in [
        "Cargo.toml",
        "Cargo.lock",
        "crates/modeshare/Cargo.toml",
        "benches/Cargo.toml",
        "tests/Cargo.toml",
    ] {
        assert!(passing.iter().any(|(p, _)| p == manifest), "{manifest}");
    }
    let bytes: u64 = passing.iter().map(|(_, size)| size).sum();
    let all: u64 = files.iter().map(|(_, size)| size).sum();
    eprintln!(
        "build context: {} of {} files, {bytes} of {all} bytes",
        passing.len(),
        files.len()
    );
    assert!(bytes < 6_000_000, "the build context grew to {bytes} bytes");
}

#[test]
fn a_dockerignore_that_leaves_out_what_the_build_copies_is_caught() {
    let dir = TempDir::new("container-context-broken");
    let clone = cloned_context(&dir);
    let files = files_under(&clone);
    let dockerignore = read(".dockerignore");
    let dockerfile = read("deploy/Dockerfile");
    // Without `!config`, the COPY of config finds nothing.
    let without_config = dockerignore.replace("!config\n", "");
    assert_ne!(without_config, dockerignore);
    let problems = context_problems(&without_config, &dockerfile, &files);
    assert_eq!(
        problems,
        ["COPY config: left out by .dockerignore"],
        "{problems:#?}"
    );
    // Without `**/target`, a developer's build output would be sent (and `!crates` lets in a
    // crate's own target/).
    let with_target = dockerignore.replace("**/target\n", "");
    assert_ne!(with_target, dockerignore);
    let problems = context_problems(&with_target, &dockerfile, &files);
    assert_eq!(
        problems,
        ["crates/modeshare/target/debug/modeshare is in the context"],
        "{problems:#?}"
    );
    // A denylist that forgets .git sends the repository's history.
    let problems = context_problems("target\n", &dockerfile, &files);
    assert!(
        problems.iter().any(|p| p.starts_with(".git/")),
        "{problems:#?}"
    );
    // A COPY of a file the repository does not have.
    let problems = context_problems(
        &dockerignore,
        &format!("{dockerfile}\nCOPY deploy/missing.toml /etc/x\n"),
        &files,
    );
    assert_eq!(
        problems,
        [
            "COPY deploy/missing.toml: not in the repository (the context is a clean clone: commit new files)"
        ]
    );
}

/// `/etc/modeshare` as the runtime stage lays it out: its COPY lines whose destination is there,
/// from the build stage's `/src` (which holds the context's folders) or from the context.
fn image_etc(dockerfile: &str, context: &Path, image: &Path) -> Vec<String> {
    let mut copied = vec![];
    for copy in copies(dockerfile) {
        if !copy.destination.starts_with("/etc/modeshare") {
            continue;
        }
        let [source] = copy.sources.as_slice() else {
            panic!("{copy:?}: one source expected");
        };
        let relative = match copy.from.as_deref() {
            Some("build") => source.strip_prefix("/src/").unwrap(),
            None => source.as_str(),
            Some(other) => panic!("{copy:?}: stage {other}"),
        };
        let destination = image.join(copy.destination.trim_start_matches('/'));
        let source = context.join(relative);
        if source.is_dir() {
            for (file, _) in files_under(&source) {
                let to = destination.join(&file);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(source.join(&file), to).unwrap();
            }
        } else {
            std::fs::create_dir_all(destination.parent().unwrap()).unwrap();
            std::fs::copy(&source, &destination).unwrap();
        }
        copied.push(copy.destination.clone());
    }
    copied
}

/// `modeshare replay --config FILE -` on no events, from the image's working directory: the
/// configuration loads (its zones, stops and other files found) or the status and stderr say
/// why not; the report on success.
fn replay_config(config: &Path, workdir: &Path) -> Result<serde_json::Value, String> {
    let output = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .args(["replay", "--config"])
        .arg(config)
        .arg("-")
        .current_dir(workdir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    if !output.status.success() {
        return Err(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(serde_json::from_slice(&output.stdout).unwrap())
}

#[test]
fn every_configuration_in_the_image_finds_its_files_from_the_working_directory() {
    let dir = TempDir::new("container-image");
    let image = dir.path().join("image");
    let copied = image_etc(&read("deploy/Dockerfile"), &repo_root(), &image);
    assert_eq!(copied, ["/etc/modeshare", "/etc/modeshare/modeshare.toml"]);
    let etc = image.join("etc/modeshare");
    // The Dockerfile's WORKDIR, away from the configuration.
    let workdir = image.join("var/lib/modeshare");
    std::fs::create_dir_all(&workdir).unwrap();

    // The default command's file changes the public listener only: every other key is the
    // embedded default, so nothing a city configures is changed behind its back.
    let container: toml::Table = read("deploy/container.toml").parse().unwrap();
    assert_eq!(
        container.to_string(),
        "[http]\nlisten = \"0.0.0.0:9464\"\n",
        "deploy/container.toml"
    );
    let dockerfile = read("deploy/Dockerfile");
    assert!(dockerfile.contains("CMD [\"run\", \"--config\", \"/etc/modeshare/modeshare.toml\"]"));
    assert!(
        !instructions(&dockerfile)
            .iter()
            .any(|i| i.starts_with("ENV ") && i.contains("MODESHARE__")),
        "an ENV would override the mounted configuration"
    );
    replay_config(&etc.join("modeshare.toml"), &workdir).unwrap();

    let mut examples = 0;
    for entry in std::fs::read_dir(etc.join("examples")).unwrap() {
        let path = entry.unwrap().path();
        let report =
            replay_config(&path, &workdir).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        examples += 1;
        if path.ends_with("municipalities.toml") {
            // Its zones are ../zones/…, found beside examples/.
            let zones = report["zones"].as_object().unwrap();
            assert!(zones.contains_key("Asker"), "{:?}", zones.keys());
        }
    }
    assert!(examples >= 3, "{examples} examples");

    // Where the layout is wrong, the same file fails: examples/ without zones/ beside it.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let moved = elsewhere.join("municipalities.toml");
    std::fs::copy(etc.join("examples/municipalities.toml"), &moved).unwrap();
    let e = replay_config(&moved, &workdir).unwrap_err();
    assert!(e.contains("spatial.zones"), "{e}");
}
