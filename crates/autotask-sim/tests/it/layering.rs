//! The crate's internal layering, checked: every `crate::…`, `super::…` and child-module
//! path in `src/` names a module (names the crate root re-exports count as their module),
//! and the graph of source files those paths draw has no cycle (in particular no two files
//! import each other). Inline `#[cfg(test)]` modules at the bottom of a file and comments are
//! not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path ("state::webhooks", "" for the crate root) → its file.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src");
            let mut parts: Vec<String> = rel
                .with_extension("")
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            if rel == Path::new("main.rs") {
                continue; // the binary is its own crate
            }
            out.insert(parts.join("::"), path);
        }
    }
    out
}

/// The code of a file without comments and without a trailing inline test module.
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") && !text.contains("mod tests;") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line.split(" // ").next().unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Every path that starts with `prefix` (`crate::` or `super::`), as identifier lists;
/// `prefix::{a, b::c}` yields `[a]` and `[b, c]`.
fn paths(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|p| {
                p.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|p| !p.is_empty())
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in code.match_indices(prefix) {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(inner.split(',').map(|p| ident(p.trim())));
        } else {
            out.push(ident(rest));
        }
    }
    out
}

/// Names the crate root re-exports (`pub use module::{A, b}`) → their module.
fn root_names(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for stmt in lib.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = rest.split_once("::") else {
            continue;
        };
        for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = name.trim();
            if !name.is_empty() {
                out.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    out
}

/// The submodules a file declares (`mod x;`, `pub mod x;`, `pub(crate) mod x;`).
fn declared(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("pub(crate) ")
                .or(l.strip_prefix("pub "))
                .unwrap_or(l);
            l.strip_prefix("mod ")?.strip_suffix(';').map(str::to_owned)
        })
        .collect()
}

/// The module a path resolves to: the longest prefix that is a module file, else the base
/// (from the crate root, a re-exported name counts as its module).
fn target(
    modules: &BTreeMap<String, PathBuf>,
    roots: &BTreeMap<String, String>,
    base: &[String],
    path: &[String],
) -> String {
    if let (true, Some(first)) = (base.is_empty(), path.first()) {
        if let Some(module) = roots.get(first) {
            return module.clone();
        }
    }
    let mut best = base.join("::");
    for n in 1..=path.len() {
        let mut full = base.to_vec();
        full.extend(path[..n].iter().cloned());
        let name = full.join("::");
        if modules.contains_key(&name) {
            best = name;
        }
    }
    best
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let roots = root_names(&std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    let mut edges = BTreeMap::new();
    for (name, file) in &modules {
        let text = std::fs::read_to_string(file).expect("a source file");
        let code = code(&text);
        let me: Vec<String> = if name.is_empty() {
            Vec::new()
        } else {
            name.split("::").map(str::to_owned).collect()
        };
        // `super::` from `a::b` (a file `a/b.rs`) is `a`.
        let parent = &me[..me.len().saturating_sub(1)];
        let mut to = BTreeSet::new();
        for p in paths(&code, "crate::") {
            to.insert(target(&modules, &roots, &[], &p));
        }
        for p in paths(&code, "super::") {
            to.insert(target(&modules, &roots, parent, &p));
        }
        for child in declared(&code) {
            for p in paths(&code, &format!("{child}::")) {
                let mut full = vec![child.clone()];
                full.extend(p);
                to.insert(target(&modules, &roots, &me, &full));
            }
        }
        to.remove(name);
        to.remove(""); // the crate root re-exports; it is nobody's dependency in this sense
        edges.insert(name.clone(), to);
    }
    edges
}

/// One cycle through `start`, if any.
fn cycle_from(edges: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        edges: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        node: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in edges.get(node).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(edges, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    walk(edges, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn source_files_import_each_other_in_one_direction_only() {
    let edges = graph();
    assert!(
        edges.contains_key("state::webhooks") && edges["api"].contains("shared"),
        "the scan must see the crate's modules and their imports: {edges:#?}"
    );
    let cycles: Vec<String> = edges
        .keys()
        .filter_map(|m| cycle_from(&edges, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn the_database_rules_import_no_other_layer() {
    let edges = graph();
    let upper = [
        "api", "callout", "console", "server", "shared", "listener", "reqlog", "cli",
    ];
    for (module, to) in &edges {
        if module == "state" || module.starts_with("state::") {
            for t in to {
                assert!(
                    !upper
                        .iter()
                        .any(|u| t == u || t.starts_with(&format!("{u}::"))),
                    "{module} imports {t}"
                );
            }
        }
    }
}
