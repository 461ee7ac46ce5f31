//! The layering the README describes (its Layout section), checked on the source: the graph of
//! `crate::`/`super::` imports between files in `src/` (tests excluded) has no
//! cycle, and the domain imports no AWS SDK, HTTP or Lambda crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::harness::root;

/// Module path (`crate::app::fleet`) -> its source without test code.
fn library_modules() -> BTreeMap<String, String> {
    let mut modules = BTreeMap::new();
    let src = root().join("src");
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().unwrap() != "bin" {
                    stack.push(path);
                }
                continue;
            }
            let name = path.file_name().unwrap().to_str().unwrap();
            if !name.ends_with(".rs")
                || name.ends_with("_tests.rs")
                || name == "fakes.rs"
                || name == "main.rs"
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Test modules sit at the end of a file, after `#[cfg(test)]`.
            let code = text.split("#[cfg(test)]").next().unwrap().to_string();
            modules.insert(module_path(&src, &path), code);
        }
    }
    modules
}

fn module_path(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_str().unwrap().to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    std::iter::once("crate".to_string())
        .chain(parts)
        .collect::<Vec<_>>()
        .join("::")
}

/// Every path a piece of code names through `crate::` or `super::`, with
/// `use` groups (`crate::a::{b, c::D}`) expanded.
fn referenced_paths(module: &str, code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for anchor in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(at) = rest.find(anchor) {
            let before = rest[..at].chars().last();
            rest = &rest[at..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                rest = &rest[anchor.len()..];
                continue;
            }
            let end = path_end(rest);
            let base = if anchor == "super::" {
                let parent = parent_of(module);
                format!("{parent}::{}", &rest[anchor.len()..end])
            } else {
                rest[..end].to_string()
            };
            expand(&base, &mut found);
            rest = &rest[end..];
        }
    }
    found
}

/// The parent module of a file's module (`super` from `crate::app::fleet` is `crate::app`).
fn parent_of(module: &str) -> String {
    module
        .rsplit_once("::")
        .map(|(p, _)| p.to_string())
        .unwrap_or_default()
}

/// Where a path (possibly with a brace group) ends.
fn path_end(text: &str) -> usize {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            c if depth == 0 && !(c.is_alphanumeric() || c == '_' || c == ':') => return i,
            _ => {}
        }
    }
    text.len()
}

fn expand(path: &str, out: &mut Vec<String>) {
    let Some(open) = path.find('{') else {
        out.push(path.trim_end_matches("::").to_string());
        return;
    };
    let prefix = &path[..open];
    let inner = &path[open + 1..path.len() - 1];
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&format!("{prefix}{}", inner[start..i].trim()), out);
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = inner[start..].trim();
    if !last.is_empty() && last != "self" {
        expand(&format!("{prefix}{last}"), out);
    } else if last == "self" {
        out.push(prefix.trim_end_matches("::").to_string());
    }
}

/// The file (module) a path lands in: its longest prefix that is a module.
fn owning_module<'a>(path: &str, modules: &'a BTreeMap<String, String>) -> Option<&'a String> {
    let mut candidate = path.to_string();
    loop {
        if let Some((key, _)) = modules.get_key_value(&candidate) {
            return Some(key);
        }
        candidate = candidate.rsplit_once("::")?.0.to_string();
    }
}

fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = library_modules();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in &modules {
        let targets = graph.entry(module.clone()).or_default();
        for path in referenced_paths(module, code) {
            if let Some(target) = owning_module(&path, &modules)
                && target != module
            {
                targets.insert(target.clone());
            }
        }
    }
    graph
}

#[test]
fn the_file_import_graph_has_no_cycle() {
    let graph = import_graph();
    assert!(
        graph.len() > 20,
        "too few modules found: {:?}",
        graph.keys()
    );
    assert!(graph["crate::app::fleet"].contains("crate::app::context"));
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        trail: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let from = trail.iter().position(|n| n == node).unwrap();
                let mut cycle = trail[from..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.to_string(), 1);
        trail.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, state, trail) {
                return Some(cycle);
            }
        }
        trail.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut state, &mut Vec::new()) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_cycle_check_sees_a_cycle_when_there_is_one() {
    let code_a = "use crate::b::X;";
    let code_b = "use super::a::{Y, Z};";
    let paths_a = referenced_paths("crate::a", code_a);
    let paths_b = referenced_paths("crate::b", code_b);
    assert_eq!(paths_a, ["crate::b::X"]);
    assert_eq!(paths_b, ["crate::a::Y", "crate::a::Z"]);
}

#[test]
fn the_domain_imports_no_aws_http_or_lambda_crate() {
    for (module, code) in library_modules() {
        if !module.starts_with("crate::domain") {
            continue;
        }
        for forbidden in [
            "aws_",
            "reqwest",
            "lambda_runtime",
            "hyper",
            "tokio",
            "crate::adapters",
            "crate::app",
        ] {
            assert!(!code.contains(forbidden), "{module} uses {forbidden}");
        }
    }
}

/// The layers in the README's order: a module may import its own layer and
/// the layers above it (listed earlier), never one below.
const LAYERS: [&[&str]; 7] = [
    &["crate::domain"],
    &["crate::error", "crate::config", "crate::secret"],
    &["crate::ports"],
    &["crate::input"],
    &["crate::app"],
    &["crate::adapters"],
    &["crate::render"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|prefixes| {
        prefixes
            .iter()
            .any(|p| module == *p || module.starts_with(&format!("{p}::")))
    })
}

/// Imports that go against the layer order: (importer, imported).
fn upward_imports(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (module, targets) in graph {
        let Some(from) = layer_of(module) else {
            continue;
        };
        for target in targets {
            if layer_of(target).is_some_and(|to| to > from) {
                found.push((module.clone(), target.clone()));
            }
        }
    }
    found
}

#[test]
fn each_layer_imports_only_itself_and_the_layers_above() {
    let graph = import_graph();
    // Every library module belongs to a layer (the crate root only declares them).
    for module in graph.keys().filter(|m| *m != "crate") {
        assert!(layer_of(module).is_some(), "{module} is in no layer");
    }
    assert_eq!(upward_imports(&graph), Vec::<(String, String)>::new());
    // The check itself sees an import against the order.
    let mut wrong = BTreeMap::new();
    wrong.insert(
        "crate::domain::plan".to_string(),
        BTreeSet::from(["crate::app::workspace".to_string()]),
    );
    assert_eq!(
        upward_imports(&wrong),
        [(
            "crate::domain::plan".to_string(),
            "crate::app::workspace".to_string()
        )]
    );
}

/// Every non-test source file (binaries included): its path and its lines up
/// to its test module.
fn non_test_sources() -> Vec<(String, Vec<String>)> {
    let src = root().join("src");
    let mut found = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_str().unwrap();
            if !name.ends_with(".rs") || name.ends_with("_tests.rs") || name == "fakes.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<String> = text
                .lines()
                .take_while(|l| l.trim() != "#[cfg(test)]")
                .map(str::to_string)
                .collect();
            let rel = path.strip_prefix(&src).unwrap().display().to_string();
            found.push((rel, lines));
        }
    }
    found
}

/// Each `fn` and its length in lines, from its signature to its closing
/// brace (comments and blank lines inside count).
fn function_lengths(lines: &[String]) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        let signature = ["fn ", "pub fn ", "async fn ", "pub async fn ", "const fn "]
            .iter()
            .chain(&["pub(crate) fn ", "pub(crate) async fn ", "pub(super) fn "])
            .chain(&["pub(super) async fn ", "pub const fn "])
            .find_map(|p| code.strip_prefix(p));
        let Some(rest) = signature else { continue };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut opened) = (0i32, false);
        for (i, l) in lines.iter().enumerate().skip(start) {
            if !opened && l.trim_end().ends_with(';') {
                break; // a declaration without a body
            }
            for c in l.chars() {
                match c {
                    '{' => (depth, opened) = (depth + 1, true),
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                found.push((name.clone(), i - start + 1));
                break;
            }
        }
    }
    found
}

/// The shape the rooms are kept to: no function over 80 lines, no file
/// over 600, `main.rs` at most 150 (test code not counted).
#[test]
fn no_function_over_80_lines_no_file_over_600_and_a_thin_main() {
    let sources = non_test_sources();
    assert!(sources.len() > 40, "{}", sources.len());
    let mut too_long = Vec::new();
    for (file, lines) in &sources {
        let limit = if file.ends_with("main.rs") { 150 } else { 600 };
        if lines.len() > limit {
            too_long.push(format!("{file}: {} lines", lines.len()));
        }
        for (name, n) in function_lengths(lines) {
            if n > 80 {
                too_long.push(format!("{file}: fn {name} is {n} lines"));
            }
        }
    }
    assert_eq!(too_long, Vec::<String>::new());
    // The measure itself sees a long function and its end.
    let long: Vec<String> = std::iter::once("pub async fn long() {".to_string())
        .chain((0..81).map(|i| format!("    let x{i} = {{ 1 }};")))
        .chain(["}".to_string(), "fn short() {}".to_string()])
        .collect();
    assert_eq!(
        function_lengths(&long),
        [("long".to_string(), 83), ("short".to_string(), 1)]
    );
}
