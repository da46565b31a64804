//! `recalld plugins list|inspect|conformance`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::host::{LoadedPlugin, PluginRegistry, run_conformance};

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List the plugins the config loads.
    List {
        #[arg(long)]
        config: PathBuf,
        /// Print JSON manifests instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Load one plugin library and print its manifest.
    Inspect {
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Run the checks a plugin must pass before it ships (exit 1 on failure).
    Conformance {
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: PluginsCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginsCommand::List { config, json } => {
            let config = Config::load(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
            let registry = PluginRegistry::from_sources(&config.plugins)?;
            let plugins: Vec<&LoadedPlugin> = registry.iter().collect();
            print_plugins(&plugins, json)?;
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::Inspect { path, json } => {
            let registry = load_one(&path)?;
            let plugins: Vec<&LoadedPlugin> = registry.iter().collect();
            print_plugins(&plugins, json)?;
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::Conformance { path, json } => {
            let registry = load_one(&path)?;
            let mut passed = true;
            for loaded in registry.iter() {
                let report = run_conformance(loaded, crate::clock::now_ms());
                passed &= report.passed();
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    print!("{}", report.render());
                }
            }
            Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn load_one(path: &Path) -> anyhow::Result<PluginRegistry> {
    let mut registry = PluginRegistry::new();
    registry.load_file(path)?;
    Ok(registry)
}

fn print_plugins(plugins: &[&LoadedPlugin], json: bool) -> anyhow::Result<()> {
    if json {
        let manifests: Vec<serde_json::Value> = plugins
            .iter()
            .map(|p| {
                let mut value = serde_json::to_value(&p.manifest).unwrap_or_default();
                value["source"] = serde_json::Value::String(p.source.display().to_string());
                value
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&manifests)?);
        return Ok(());
    }
    println!(
        "{:<18} {:<9} {:<12} {:<22} {:<10} SOURCE",
        "NAME", "VERSION", "VENDOR", "OPERATIONS", "WINDOW"
    );
    for p in plugins {
        let m = &p.manifest;
        let ops: Vec<&str> = m.operations.iter().map(|o| o.as_str()).collect();
        let window = m
            .recall_window_secs
            .map_or("-".to_owned(), |s| format!("{}h", s / 3600));
        println!(
            "{:<18} {:<9} {:<12} {:<22} {:<10} {}",
            m.name,
            m.version,
            m.vendor,
            ops.join(","),
            window,
            p.source.display()
        );
    }
    Ok(())
}
