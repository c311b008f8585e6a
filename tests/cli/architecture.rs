//! The architecture's promises, checked on the tree itself (issue #13, docs/architecture.md):
//! no import circle between files, no non-test source file over 600 lines, no crate
//! holding more than a quarter of the Rust lines, and the checker crate free of the
//! runtime, the simulator and the wire.
//!
//! A circle is a `use crate::…`/`use super::…` path from one file to another that leads
//! back to the first; a parent module re-exporting its own children is not one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace's crates: (folder, source root).
const CRATES: [(&str, &str); 8] = [
    ("wire", "wire/src"),
    ("broker-model", "broker-model/src"),
    ("workload", "workload/src"),
    ("checker", "checker/src"),
    ("sim", "sim/src"),
    ("conformance", "conformance/src"),
    ("reports", "reports/src"),
    ("faultline", "src"),
];

/// STYLE.md: one concept per file, split well before 800; the architecture issue sets 600.
const MAX_FILE_LINES: usize = 600;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path within its crate: `log/facts.rs` → `["log", "facts"]`,
/// `log/mod.rs` → `["log"]`, `lib.rs`/`main.rs` → `[]`.
fn module_path(root: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(root).unwrap();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The module paths a file's `use crate::` and `use super::` lines name (outside its
/// `#[cfg(test)]` tail).
fn imported_paths(source: &str, own: &[String]) -> Vec<Vec<String>> {
    let code = source.split("#[cfg(test)]").next().unwrap_or(source);
    let mut found = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        let Some(rest) = line
            .strip_prefix("pub use ")
            .or_else(|| line.strip_prefix("use "))
            .or_else(|| line.strip_prefix("pub(crate) use "))
        else {
            continue;
        };
        let segments: Vec<&str> = rest
            .split(['{', ';', ' ', ','])
            .next()
            .unwrap_or("")
            .split("::")
            .filter(|s| !s.is_empty())
            .collect();
        let mut base: Vec<String> = own.to_vec();
        let mut segments = segments.as_slice();
        match segments.first() {
            Some(&"crate") => {
                base.clear();
                segments = &segments[1..];
            }
            Some(&"super") => {
                while segments.first() == Some(&"super") {
                    base.pop();
                    segments = &segments[1..];
                }
            }
            Some(&"self") => segments = &segments[1..],
            _ => continue,
        }
        base.extend(segments.iter().map(|s| s.to_string()));
        found.push(base);
    }
    found
}

/// Module paths to files, for one crate.
fn crate_modules(root: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files
        .into_iter()
        .map(|f| (module_path(root, &f), f))
        .collect()
}

/// The file an imported path lands in: the longest prefix that is a module file.
fn resolve<'a>(
    modules: &'a BTreeMap<Vec<String>, PathBuf>,
    path: &[String],
) -> Option<&'a Vec<String>> {
    (0..=path.len())
        .rev()
        .find_map(|n| modules.get_key_value(&path[..n]).map(|(k, _)| k))
}

fn cycles_in(root: &Path) -> Vec<Vec<String>> {
    let modules = crate_modules(root);
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in &modules {
        let source = std::fs::read_to_string(file).unwrap();
        for path in imported_paths(&source, module) {
            let Some(target) = resolve(&modules, &path) else {
                continue;
            };
            // A parent re-exporting or using its own descendants is structure, not a circle.
            if target == module || target.starts_with(module) {
                continue;
            }
            edges
                .entry(module.clone())
                .or_default()
                .insert(target.clone());
        }
    }
    // A depth-first search; each back edge closes one circle.
    let mut circles = Vec::new();
    let mut state: BTreeMap<Vec<String>, u8> = BTreeMap::new();
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
        circles: &mut Vec<Vec<String>>,
    ) {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                0 => visit(next, edges, state, stack, circles),
                1 => {
                    let from = stack.iter().position(|n| n == next).unwrap();
                    circles.push(stack[from..].iter().map(|m| m.join("::")).collect());
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
    }
    for module in modules.keys() {
        if !state.contains_key(module) {
            visit(module, &edges, &mut state, &mut Vec::new(), &mut circles);
        }
    }
    circles
}

#[test]
fn no_import_circle_between_files() {
    let mut found = Vec::new();
    for (name, src) in CRATES {
        for circle in cycles_in(&repo().join(src)) {
            found.push(format!("{name}: {}", circle.join(" -> ")));
        }
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn the_cycle_finder_finds_a_circle() {
    let dir = std::env::temp_dir().join(format!("faultline-arch-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("log")).unwrap();
    std::fs::write(dir.join("lib.rs"), "pub mod log;\n").unwrap();
    std::fs::write(dir.join("log/mod.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(dir.join("log/a.rs"), "use super::b::B;\npub struct A;\n").unwrap();
    std::fs::write(
        dir.join("log/b.rs"),
        "use crate::log::a::A;\npub struct B;\n",
    )
    .unwrap();
    let circles = cycles_in(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        circles,
        vec![vec!["log::a".to_string(), "log::b".to_string()]]
    );
}

/// Lines of a file before its `#[cfg(test)]` tail.
fn code_lines(source: &str) -> usize {
    source
        .split("#[cfg(test)]")
        .next()
        .unwrap_or(source)
        .lines()
        .count()
}

#[test]
fn no_source_file_over_600_lines() {
    let mut over = Vec::new();
    for (_, src) in CRATES {
        let mut files = Vec::new();
        rust_files(&repo().join(src), &mut files);
        for file in files {
            if file.to_string_lossy().contains("/tests") {
                continue;
            }
            let lines = code_lines(&std::fs::read_to_string(&file).unwrap());
            if lines > MAX_FILE_LINES {
                over.push(format!("{} ({lines} lines)", file.display()));
            }
        }
    }
    assert!(
        over.is_empty(),
        "files over {MAX_FILE_LINES} lines:\n{}",
        over.join("\n")
    );
}

#[test]
fn no_crate_holds_more_than_a_quarter_of_the_rust_lines() {
    let mut per_crate = BTreeMap::new();
    for (name, src) in CRATES {
        let folder = repo().join(src).parent().unwrap().to_path_buf();
        let mut files = Vec::new();
        for sub in ["src", "tests", "benches"] {
            // The root package's folder is the repository: its own src/, tests/ and
            // benches/ only (the member crates are counted under their own names).
            if folder.join(sub).is_dir() {
                rust_files(&folder.join(sub), &mut files);
            }
        }
        let lines: usize = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap().lines().count())
            .sum();
        per_crate.insert(name, lines);
    }
    let total: usize = per_crate.values().sum();
    for (name, lines) in &per_crate {
        assert!(
            lines * 4 <= total,
            "{name} holds {lines} of {total} Rust lines (more than a quarter): {per_crate:?}"
        );
    }
}

#[test]
fn the_checker_crate_depends_on_no_runtime_simulator_or_wire() {
    let manifest = std::fs::read_to_string(repo().join("checker/Cargo.toml")).unwrap();
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    for banned in ["tokio", "turmoil", "kafka-protocol", "faultline-"] {
        assert!(
            !dependencies.contains(banned),
            "checker/Cargo.toml [dependencies] names {banned}"
        );
    }
}
