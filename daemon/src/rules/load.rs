//! Reading rule files: globs to files, YAML to raw rules, raw to typed.
//! Every problem in every file is collected, each as `file:line:col`.
//!
//! serde stops at the first error of a document. So that one typo does not
//! hide the next, a file that fails as a whole is read again rule by rule:
//! each list item is cut out with its lines and columns kept, and parsed
//! (and validated) on its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_saphyr::{Location, Spanned};

use super::check::Checker;
use super::model::Rule;
use super::raw::{RawRule, RawRuleFile, RawRuleOutline};
use super::{Env, Loaded, RuleSet};
use crate::config::{ConfigError, parse_yaml};

/// One rule's raw form and where it came from.
struct Parsed {
    file: PathBuf,
    rule: Spanned<RawRule>,
}

/// Loads every file the globs match. Errors and warnings in file order.
pub fn load(globs: &[String], env: &Env) -> Result<Loaded, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut parsed = Vec::new();
    let mut files = Vec::new();
    for pattern in globs {
        let matched = match glob::glob(pattern) {
            Ok(paths) => {
                let mut paths: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
                paths.sort();
                paths
            }
            Err(e) => {
                errors.push(located(Path::new(pattern), 0, 0, format!("bad glob: {e}")));
                continue;
            }
        };
        if matched.is_empty() {
            warnings.push(located(Path::new(pattern), 0, 0, "matches no rule file"));
        }
        for path in matched {
            if files.contains(&path) {
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(text) => parse_file(&path, &text, &mut parsed, &mut errors),
                Err(e) => errors.push(located(&path, 0, 0, format!("cannot read: {e}"))),
            }
            files.push(path);
        }
    }
    let mut rules: Vec<Rule> = Vec::new();
    let mut seen: BTreeMap<String, (PathBuf, u64)> = BTreeMap::new();
    for Parsed { file, rule } in parsed {
        let at = rule.referenced;
        let name = rule.value.name.value.clone();
        if let Some((first, line)) = seen.get(&name) {
            errors.push(located(
                &file,
                rule.value.name.referenced.line(),
                rule.value.name.referenced.column(),
                format!(
                    "rule name {name:?} is already used at {}:{line}; names must be unique",
                    first.display()
                ),
            ));
        } else {
            seen.insert(name, (file.clone(), at.line()));
        }
        let mut check = Checker {
            file: &file,
            env,
            errors: &mut errors,
            warnings: &mut warnings,
        };
        if let Some(rule) = check.rule(rule.value, at) {
            rules.push(rule);
        }
    }
    let order = |e: &ConfigError| (e.file.clone(), e.line, e.column);
    errors.sort_by_key(order);
    warnings.sort_by_key(order);
    if errors.is_empty() {
        Ok(Loaded {
            set: RuleSet::new(rules, files),
            warnings,
        })
    } else {
        Err(errors)
    }
}

fn located(file: &Path, line: u64, column: u64, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_owned(),
        line,
        column,
        message: message.into(),
    }
}

pub(super) fn at(file: &Path, location: Location, message: impl Into<String>) -> ConfigError {
    ConfigError::at(file, location, message)
}

fn parse_file(path: &Path, text: &str, out: &mut Vec<Parsed>, errors: &mut Vec<ConfigError>) {
    let whole = match parse_yaml::<RawRuleFile>(path, text) {
        Ok(file) => {
            out.extend(file.rules.into_iter().map(|rule| Parsed {
                file: path.to_owned(),
                rule,
            }));
            return;
        }
        Err(e) => e,
    };
    // Read it again rule by rule, so every broken rule is reported.
    let Ok(outline) = parse_yaml::<RawRuleOutline>(path, text) else {
        errors.push(whole);
        return;
    };
    let starts: Vec<(u64, u64)> = outline
        .rules
        .iter()
        .map(|r| (r.referenced.line(), r.referenced.column()))
        .collect();
    let lines: Vec<&str> = text.lines().collect();
    let before = errors.len();
    for (i, &(line, column)) in starts.iter().enumerate() {
        let end = starts
            .get(i + 1)
            .map_or(lines.len() as u64 + 1, |next| next.0);
        let Some(piece) = cut(&lines, line, column, end) else {
            // Several rules on one line (flow style): no finer report.
            errors.truncate(before);
            errors.push(whole);
            return;
        };
        match parse_yaml::<Spanned<RawRule>>(path, &piece) {
            Ok(rule) => out.push(Parsed {
                file: path.to_owned(),
                rule,
            }),
            Err(e) => errors.push(e),
        }
    }
    if errors.len() == before {
        // The cut pieces parse (e.g. an alias across rules): report the file's error.
        errors.push(whole);
    }
}

/// The text of one list item starting at (`line`, `column`), 1-based, up to
/// the line before `end`, padded so lines and columns stay those of the file.
fn cut(lines: &[&str], line: u64, column: u64, end: u64) -> Option<String> {
    if end <= line || line == 0 || column == 0 {
        return None;
    }
    let first = *lines.get(line as usize - 1)?;
    let skip = first.char_indices().nth(column as usize - 1)?.0;
    let mut piece = "\n".repeat(line as usize - 1);
    piece.push_str(&" ".repeat(column as usize - 1));
    piece.push_str(&first[skip..]);
    for text in lines.iter().take(end as usize - 1).skip(line as usize) {
        piece.push('\n');
        piece.push_str(text);
    }
    piece.push('\n');
    Some(piece)
}
