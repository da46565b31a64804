//! `recalld check --config F`: config, plugins, accounts and rules, all
//! errors at once as `file:line:col: message`; exit 64 when any.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{Config, ConfigError};

use super::EXIT_CONFIG;

pub fn run(path: &Path) -> ExitCode {
    let errors = check(path);
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

/// Every problem with the config at `path`, in file order.
pub fn check(path: &Path) -> Vec<ConfigError> {
    let mut config = match Config::load(path) {
        Ok(config) => config,
        Err(errors) => return errors.0,
    };
    let mut errors = Vec::new();
    if let Err(e) = config.resolve_secrets() {
        errors.extend(e.0);
    }
    match crate::host::PluginRegistry::from_sources(&config.plugins) {
        Ok(registry) => errors.extend(crate::accounts::check_accounts(&config, &registry)),
        Err(e) => errors.push(ConfigError {
            file: path.to_owned(),
            line: 0,
            column: 0,
            message: format!("plugins: {e:#}"),
        }),
    }
    errors.sort_by_key(|e| (e.line, e.column));
    errors
}
