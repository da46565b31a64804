//! `recalld check --config F`: config, plugins, accounts and rules, all
//! errors at once as `file:line:col: message`; exit 64 when any.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{Config, ConfigError};

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
pub fn check(path: &Path) -> Checked {
    let mut config = match Config::load(path) {
        Ok(config) => config,
        Err(errors) => {
            return Checked {
                errors: errors.0,
                warnings: Vec::new(),
            };
        }
    };
    let mut checked = Checked::default();
    if let Err(e) = config.resolve_secrets() {
        checked.errors.extend(e.0);
    }
    let registry = match crate::host::PluginRegistry::from_sources(&config.plugins) {
        Ok(registry) => {
            checked
                .errors
                .extend(crate::accounts::check_accounts(&config, &registry));
            Some(registry)
        }
        Err(e) => {
            checked.errors.push(ConfigError {
                file: path.to_owned(),
                line: 0,
                column: 0,
                message: format!("plugins: {e:#}"),
            });
            None
        }
    };
    let env = crate::rules::Env::from_config(&config, registry.as_ref());
    match crate::rules::load(&config.rules.files, &env) {
        Ok(loaded) => checked.warnings.extend(loaded.warnings),
        Err(errors) => checked.errors.extend(errors),
    }
    let order = |e: &ConfigError| (e.file.clone(), e.line, e.column);
    checked.errors.sort_by_key(order);
    checked.warnings.sort_by_key(order);
    checked
}
