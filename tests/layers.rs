//! The shape of the house, checked: the core crate has no proxy-wasm dependency (the compiler
//! keeps it pure), and no module of the core or of the shell imports another in a circle.
//! Imports are read from the source (`crate::a::b`, `super::x`, outside `#[cfg(test)]`): a test
//! module may reach upwards, production code may not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let production = text.split("#[cfg(test)]").next().unwrap_or("").to_owned();
            out.insert(parts.join("::"), production);
        }
    }
    out
}

/// The module a path names: its longest prefix that is a module.
fn resolve(mods: &BTreeMap<String, String>, segments: &[&str]) -> Option<String> {
    (1..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find(|m| mods.contains_key(m))
}

fn path_after(text: &str, at: usize) -> (Vec<&str>, bool) {
    let rest = &text[at..];
    let mut segments = Vec::new();
    let mut braced = false;
    for seg in rest.split("::") {
        let ident: &str = seg
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        if seg.starts_with('{') {
            braced = true;
            break;
        }
        if ident.is_empty() {
            break;
        }
        segments.push(ident);
        if ident.len() != seg.len() {
            break;
        }
    }
    (segments, braced)
}

fn edges(mods: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, text) in mods {
        let parts: Vec<&str> = if name.is_empty() {
            vec![]
        } else {
            name.split("::").collect()
        };
        let mut set = BTreeSet::new();
        for (at, _) in text.match_indices("crate::") {
            let (segments, _) = path_after(text, at + "crate::".len());
            if let Some(m) = resolve(mods, &segments) {
                set.insert(m);
            }
        }
        for (at, _) in text.match_indices("super::") {
            let (segments, _) = path_after(text, at + "super::".len());
            let mut full: Vec<&str> = parts[..parts.len().saturating_sub(1)].to_vec();
            full.extend(segments);
            if let Some(m) = resolve(mods, &full).or_else(|| Some(String::new())) {
                set.insert(m);
            }
        }
        set.remove(name);
        out.insert(name.clone(), set);
    }
    out
}

/// Modules that reach themselves again through their imports.
fn circles(src: &Path) -> Vec<String> {
    let mods = modules(src);
    let graph = edges(&mods);
    let mut found = Vec::new();
    for start in graph.keys() {
        // Depth-first from each import of `start`; a path back to `start` is a circle.
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(String, Vec<String>)> = graph[start]
            .iter()
            .map(|n| (n.clone(), vec![start.clone(), n.clone()]))
            .collect();
        while let Some((node, path)) = stack.pop() {
            if node == *start {
                found.push(path.join(" -> "));
                break;
            }
            if !seen.insert(node.clone()) {
                continue;
            }
            for next in graph.get(&node).into_iter().flatten() {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    found
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn no_module_imports_another_in_a_circle() {
    for src in ["crates/core/src", "crates/filter/src"] {
        let found = circles(&repo().join(src));
        assert!(found.is_empty(), "{src}: circles:\n{}", found.join("\n"));
    }
}

#[test]
fn the_core_crate_cannot_call_the_host() {
    let manifest = std::fs::read_to_string(repo().join("crates/core/Cargo.toml")).unwrap();
    let deps = manifest
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .any(|l| l.contains("proxy-wasm"));
    assert!(!deps, "apirule-core must not depend on proxy-wasm");
    for (name, text) in modules(&repo().join("crates/core/src")) {
        assert!(!text.contains("proxy_wasm"), "{name} names proxy_wasm");
    }
}

#[test]
fn the_checker_sees_a_circle() {
    let dir = std::env::temp_dir().join(format!("layers-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(dir.join("a/mod.rs"), "pub mod c;\nuse crate::b::X;\n").unwrap();
    std::fs::write(dir.join("a/c.rs"), "use super::{Y};\n").unwrap();
    std::fs::write(
        dir.join("b.rs"),
        "use crate::a::c::Z;\n#[cfg(test)]\nuse crate::lib;\n",
    )
    .unwrap();
    let found = circles(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        found.iter().any(|c| c.contains("a -> b -> a::c")),
        "{found:?}"
    );
}
