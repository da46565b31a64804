//! The set of loaded plugins, by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugin_api::{Manifest, Plugin};

use super::dynamic::validate_manifest;
use super::{DynamicPlugin, HostError, load_library};

/// One plugin, ready for use.
#[derive(Clone)]
pub struct LoadedPlugin {
    /// Fetched once at load time; the daemon never asks again.
    pub manifest: Manifest,
    pub plugin: Arc<dyn Plugin>,
    /// The library it came from, or `<in-process>`.
    pub source: PathBuf,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.manifest.name)
            .field("source", &self.source)
            .finish()
    }
}

/// The file name a cargo `cdylib` named `name` builds to on this platform,
/// e.g. `feishu-helpdesk` → `libfeishu_helpdesk.so`.
pub fn library_file_name(name: &str) -> String {
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    )
}

#[derive(Default, Debug, Clone)]
pub struct PluginRegistry {
    plugins: BTreeMap<String, LoadedPlugin>,
}

impl PluginRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads one library. Every failure has its own [`HostError`].
    pub fn load_file(&mut self, path: &Path) -> Result<&LoadedPlugin, HostError> {
        let table = load_library(path)?;
        let plugin = DynamicPlugin::new(table, path)?;
        let manifest = plugin.manifest_ref().clone();
        self.insert(manifest, Arc::new(plugin), path.to_owned())
    }

    /// Loads every shared library in `dir`. A library that is not a recalld
    /// plugin (no entry symbol) is skipped and returned in the second list so
    /// the caller can log it; every other failure is an error.
    pub fn load_dir(&mut self, dir: &Path) -> Result<Vec<HostError>, HostError> {
        let entries = std::fs::read_dir(dir).map_err(|e| HostError::BadDir {
            dir: dir.to_owned(),
            reason: e.to_string(),
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.starts_with(std::env::consts::DLL_PREFIX)
                    && name.ends_with(std::env::consts::DLL_SUFFIX)
            })
            .collect();
        paths.sort();
        let mut skipped = Vec::new();
        for path in paths {
            match self.load_file(&path) {
                Ok(_) => {}
                Err(e @ HostError::NoEntry { .. }) => skipped.push(e),
                Err(e) => return Err(e),
            }
        }
        Ok(skipped)
    }

    /// Loads what the config names: every plugin in `dir`, then each of `paths`.
    pub fn from_sources(
        sources: &crate::config::PluginSources,
    ) -> Result<PluginRegistry, HostError> {
        let mut registry = PluginRegistry::new();
        if let Some(dir) = &sources.dir {
            for skipped in registry.load_dir(dir)? {
                tracing::debug!("skipped: {skipped}");
            }
        }
        for path in &sources.paths {
            registry.load_file(path)?;
        }
        Ok(registry)
    }

    /// Registers an in-process plugin (tests, embedded use).
    pub fn insert_in_process(
        &mut self,
        plugin: Arc<dyn Plugin>,
    ) -> Result<&LoadedPlugin, HostError> {
        let manifest = plugin.manifest();
        self.insert(manifest, plugin, PathBuf::from("<in-process>"))
    }

    fn insert(
        &mut self,
        manifest: Manifest,
        plugin: Arc<dyn Plugin>,
        source: PathBuf,
    ) -> Result<&LoadedPlugin, HostError> {
        validate_manifest(&manifest).map_err(|reason| HostError::InvalidManifest {
            path: source.clone(),
            reason,
        })?;
        if let Some(existing) = self.plugins.get(&manifest.name) {
            return Err(HostError::Duplicate {
                name: manifest.name.clone(),
                first: existing.source.clone(),
                second: source,
            });
        }
        let name = manifest.name.clone();
        let loaded = LoadedPlugin {
            manifest,
            plugin,
            source,
        };
        Ok(self.plugins.entry(name).or_insert(loaded))
    }

    pub fn get(&self, name: &str) -> Option<&LoadedPlugin> {
        self.plugins.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &LoadedPlugin> {
        self.plugins.values()
    }

    pub fn names(&self) -> Vec<&str> {
        self.plugins.keys().map(String::as_str).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }
}
