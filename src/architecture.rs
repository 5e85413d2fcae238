//! The code map, checked: the module graph read from `src/` (every `crate::` and `super::`
//! path outside comments and test modules) has no cycle, each room imports only the rooms
//! below it, and nothing the hook reaches sends HTTP.
//!
//! It reads the sources, so it runs where they are (the Linux build; the graph is the same for
//! Windows, whose platform file imports nothing of the crate).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`log::db`) → the modules its code refers to.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// Each room, and the rooms it must not import. The order: platform < log < effects < report
/// < central < serve < cmd; `central` (team mode's PostgreSQL log) is read by `serve` and `cmd`
/// only.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "platform",
        &[
            "log", "microsip", "config", "effects", "hook", "report", "central", "serve", "cmd",
        ],
    ),
    (
        "log",
        &[
            "config", "effects", "hook", "report", "central", "serve", "cmd",
        ],
    ),
    (
        "microsip",
        &[
            "config", "effects", "hook", "report", "central", "serve", "cmd",
        ],
    ),
    ("config", &["hook", "report", "cmd"]),
    ("effects", &["hook", "report", "central", "serve", "cmd"]),
    ("hook", &["report", "central", "serve", "cmd"]),
    ("report", &["hook", "central", "serve", "cmd"]),
    ("central", &["microsip", "config", "hook", "serve", "cmd"]),
    ("serve", &["hook", "cmd"]),
];

/// What the hook (and so `callhookw.exe`) must never reach.
const NOT_FOR_THE_HOOK: &[&str] = &[
    "effects::worker",
    "effects::webhook::send",
    "report",
    "central",
    "serve::api",
    "serve::events",
    "cmd",
];

/// Crates of the network, the server and PostgreSQL, which the hook must never reach either.
const NOT_FOR_THE_HOOK_CRATES: &[&str] =
    &["reqwest", "rustls", "axum", "tokio", "postgres", "deadpool"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/log/db.rs` → `log::db`; `src/log/mod.rs` → `log`; `src/lib.rs` → `` (the root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.last().map(String::as_str) {
        Some("lib") if parts.len() == 1 => return Some(String::new()),
        Some("main") if parts.len() == 1 => return None,
        Some("mod") => {
            parts.pop();
        }
        _ => {}
    }
    if parts.first().map(String::as_str) == Some("bin") || parts == ["architecture"] {
        return None;
    }
    Some(parts.join("::"))
}

/// The code of a file without comments and without its test modules (which may import
/// anything): each `#[cfg(test)] mod … { … }` (or `#[cfg(all(test, …))]`) is cut out to its
/// closing brace.
fn code(text: &str) -> String {
    const TEST_ONLY: [&str; 2] = ["#[cfg(test)]", "#[cfg(all(test"];
    let text: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut kept = String::new();
    let mut rest = text.as_str();
    while let Some((at, marker)) = TEST_ONLY
        .iter()
        .filter_map(|marker| rest.find(marker).map(|at| (at, *marker)))
        .min()
    {
        kept.push_str(&rest[..at]);
        let after = &rest[at..];
        let Some(open) = after.find(['{', ';']) else {
            rest = "";
            break;
        };
        let is_module = after[..open].contains("mod ") && after.as_bytes()[open] == b'{';
        if !is_module {
            // A test-only item that is not a module: cut the attribute only.
            rest = &after[marker.len()..];
            continue;
        }
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    kept.push_str(rest);
    kept
}

/// The paths after `crate::` or `super::` in `code`, as lists of segments; a group
/// (`crate::a::{b, c::d}`) gives one path per item.
fn paths(code: &str, module: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for (prefix, base) in [("crate::", ""), ("super::", parent(module))] {
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let base: Vec<String> = base
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            expand(base, rest, &mut found);
        }
    }
    found
}

/// The path that starts `text`, after `segments`, into `found`; each item of a `{…}` group
/// as a path of its own.
fn expand(mut segments: Vec<String>, text: &str, found: &mut Vec<Vec<String>>) {
    let mut tail = text.trim_start();
    loop {
        if let Some(group) = tail.strip_prefix('{') {
            let mut depth = 1;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' | ',' if depth == 1 => {
                        expand(segments.clone(), &group[start..i], found);
                        start = i + 1;
                        if c == '}' {
                            return;
                        }
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            return;
        }
        let end = tail
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if end == 0 {
            break;
        }
        if &tail[..end] != "self" {
            segments.push(tail[..end].to_string());
        }
        match tail[end..].strip_prefix("::") {
            Some(next) => tail = next,
            None => break,
        }
    }
    found.push(segments);
}

fn parent(module: &str) -> &str {
    module.rsplit_once("::").map_or("", |(parent, _)| parent)
}

/// The module a path names: its longest prefix that is a module.
fn resolve(modules: &BTreeSet<String>, segments: &[String]) -> String {
    (0..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find(|candidate| modules.contains(candidate))
        .unwrap_or_default()
}

fn graph() -> (Graph, BTreeMap<String, String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let texts: BTreeMap<String, String> = files
        .iter()
        .filter_map(|file| {
            let module = module_of(&src, file)?;
            Some((module, code(&std::fs::read_to_string(file).unwrap())))
        })
        .collect();
    let modules: BTreeSet<String> = texts.keys().cloned().collect();
    let mut graph = Graph::new();
    for (module, text) in &texts {
        let targets = paths(text, module)
            .iter()
            .map(|segments| resolve(&modules, segments))
            .filter(|target| target != module && !target.is_empty())
            .collect();
        graph.insert(module.clone(), targets);
    }
    (graph, texts)
}

fn within(module: &str, room: &str) -> bool {
    module == room || module.starts_with(&format!("{room}::"))
}

#[test]
fn the_module_graph_has_no_cycle() {
    let (graph, _) = graph();
    // Depth-first search; a module met again while on the path closes a cycle.
    fn visit<'a>(
        graph: &'a Graph,
        module: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(module) {
            return;
        }
        if let Some(at) = path.iter().position(|m| *m == module) {
            panic!("import cycle: {} -> {module}", path[at..].join(" -> "));
        }
        path.push(module);
        for next in &graph[module] {
            visit(graph, next, path, done);
        }
        path.pop();
        done.insert(module);
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(&graph, module, &mut Vec::new(), &mut done);
    }
    assert!(graph.len() > 40, "the sources were read: {graph:?}");
}

#[test]
fn rooms_import_only_the_rooms_below_them() {
    let (graph, _) = graph();
    let mut wrong = Vec::new();
    for (module, targets) in &graph {
        for (room, forbidden) in FORBIDDEN {
            if !within(module, room) {
                continue;
            }
            for target in targets {
                if forbidden.iter().any(|f| within(target, f)) {
                    wrong.push(format!("{module} -> {target}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the code map: {wrong:#?}");
    assert!(graph["hook::store"].contains("log::rows"), "{graph:?}");
    assert!(
        graph["central::query"].contains("report::stats"),
        "{graph:?}"
    );
}

#[test]
fn the_hook_reaches_no_http() {
    let (graph, texts) = graph();
    let mut reached = BTreeSet::new();
    let mut todo: Vec<&str> = graph
        .keys()
        .filter(|m| within(m, "hook"))
        .map(String::as_str)
        .collect();
    while let Some(module) = todo.pop() {
        if reached.insert(module) {
            todo.extend(graph[module].iter().map(String::as_str));
        }
    }
    assert!(reached.contains("effects::outbox"), "{reached:?}");
    for module in &reached {
        assert!(
            !NOT_FOR_THE_HOOK.iter().any(|n| within(module, n)),
            "the hook reaches {module}: {reached:?}"
        );
        for crate_name in NOT_FOR_THE_HOOK_CRATES {
            assert!(
                !texts[*module].contains(&format!("{crate_name}::")),
                "the hook reaches {module}, which uses {crate_name}"
            );
        }
    }
}
