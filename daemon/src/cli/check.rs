//! `recalld check --config F`: config, plugins, accounts and rules, all
//! errors at once as `file:line:col: message`; exit 64 when any.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{Config, ConfigError};
use crate::host::PluginRegistry;

use super::EXIT_CONFIG;

pub fn run(path: &Path) -> ExitCode {
    let Checked { errors, warnings } = check(path);
    for warning in &warnings {
        eprintln!("{}: warning: {}", location(warning), warning.message);
    }
    if errors.is_empty() {
        println!("{}: ok", path.display());
        ExitCode::SUCCESS
    } else {
        for error in &errors {
            eprintln!("{error}");
        }
        eprintln!("{} error(s)", errors.len());
        ExitCode::from(EXIT_CONFIG)
    }
}

fn location(e: &ConfigError) -> String {
    format!("{}:{}:{}", e.file.display(), e.line, e.column)
}

/// What `check` found: errors refuse the config, warnings do not.
#[derive(Debug, Default)]
pub struct Checked {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigError>,
}

/// Every problem with the config at `path` and its rule files, in file order.
/// Errors in the config's values do not stop the check: plugins, accounts
/// and rules are checked too (only YAML that cannot be read as a config
/// does).
pub fn check(path: &Path) -> Checked {
    let (mut config, errors) = match Config::load_with_errors(path) {
        Ok(loaded) => loaded,
        Err(errors) => {
            return Checked {
                errors: errors.0,
                warnings: Vec::new(),
            };
        }
    };
    let mut checked = Checked {
        errors,
        warnings: Vec::new(),
    };
    if let Err(e) = config.resolve_secrets() {
        checked.errors.extend(e.0);
    }
    let registry = load_plugins(&config, &mut checked.errors);
    if let Some(registry) = &registry {
        checked
            .errors
            .extend(crate::accounts::check_accounts(&config, registry));
    }
    let env = crate::rules::Env::from_config(&config, registry.as_ref());
    // A glob that is not one was reported with the config's errors.
    let globs: Vec<String> = (config.rules.files.iter())
        .filter(|g| glob::Pattern::new(g).is_ok())
        .cloned()
        .collect();
    match crate::rules::load(&globs, &env) {
        Ok(loaded) => checked.warnings.extend(loaded.warnings),
        Err(errors) => checked.errors.extend(errors),
    }
    let order = |e: &ConfigError| (e.file.clone(), e.line, e.column);
    checked.errors.sort_by_key(order);
    checked.warnings.sort_by_key(order);
    checked
}

/// The plugins as the daemon loads them (`plugins.dir`, then each of
/// `plugins.paths`), each failure at the place it is configured. `None`
/// when any fails.
fn load_plugins(config: &Config, errors: &mut Vec<ConfigError>) -> Option<PluginRegistry> {
    let sources = &config.plugins;
    let mut registry = PluginRegistry::new();
    let before = errors.len();
    let mut failed = |(line, column): (u64, u64), e: &dyn std::fmt::Display| {
        errors.push(ConfigError {
            file: config.path.clone(),
            line,
            column,
            message: format!("plugins: {e:#}"),
        });
    };
    if let Some(dir) = &sources.dir
        && let Err(e) = registry.load_dir(dir)
    {
        failed(sources.dir_location, &e);
    }
    let locations = sources.path_locations.iter().copied();
    for (path, at) in sources.paths.iter().zip(locations) {
        if let Err(e) = registry.load_file(path) {
            failed(at, &e);
        }
    }
    (errors.len() == before).then_some(registry)
}

#[cfg(test)]
mod tests;
