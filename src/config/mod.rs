//! The configuration: the [`Settings`] tree, and [`load`], which reads it from
//! TOML (defaults → file → `PURGEHOOK__SECTION__KEY` overrides) key by key,
//! so that every problem of the file is found in one run, each naming the
//! key path — and the variable, when an override set the value.
//!
//! What depends on a source's scheme or a target's provider stays an
//! [`Unread`] table here: the source and provider registries read it, and
//! add their problems to the same report ([`Loaded::problems`]). Rules are
//! shape-checked here and compiled by the rule compiler.

mod entries;
mod env_override;
mod error;
mod fields;
mod follow_up;
mod history;
mod sections;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::{Table, Value};

pub use entries::{RuleSettings, SOURCE_KEYS, SourceSettings, TARGET_KEYS, TargetSettings, Unread};
pub use error::{ConfigError, ConfigErrors, Overrides, Problems};
pub use fields::{Fields, Invalid, Read, type_name, unknown_key_message};
pub use follow_up::FollowUpSettings;
pub use history::HistorySettings;
pub use sections::{
    AmqpQueueType, DedupeSettings, LogFormat, LogSettings, MIN_TOKEN_CHARS, QueueBackendKind,
    QueueSettings, ServerSettings, WorkerSettings,
};

use crate::job::TargetId;

/// The default configuration file, used when neither `--config` nor
/// `PURGEHOOK_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "config/purgehook.toml";

/// The sections a configuration file may have.
const SECTIONS: [&str; 9] = [
    "server", "queue", "worker", "log", "dedupe", "history", "sources", "targets", "rules",
];

/// Everything purgehook is configured with.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The file the settings came from (for messages).
    pub origin: PathBuf,
    /// `[server]`
    pub server: ServerSettings,
    /// `[queue]`
    pub queue: QueueSettings,
    /// `[worker]`
    pub worker: WorkerSettings,
    /// `[log]`
    pub log: LogSettings,
    /// `[dedupe]`
    pub dedupe: DedupeSettings,
    /// `[history]`
    pub history: HistorySettings,
    /// `[sources.<id>]`
    pub sources: BTreeMap<String, SourceSettings>,
    /// `[targets.<id>]`
    pub targets: BTreeMap<TargetId, TargetSettings>,
    /// `[[rules]]`, in file order (those whose shape is valid).
    pub rules: Vec<RuleSettings>,
}

/// A configuration as read, with every problem found so far. The settings
/// are complete — defaults stand in for invalid values — so that the
/// registries and the rule compiler can look for their problems too; the
/// configuration is valid only if no problem was found by anyone.
pub struct Loaded {
    /// The settings.
    pub settings: Settings,
    /// What was wrong.
    pub problems: Problems,
}

impl Loaded {
    /// The settings, if nothing was wrong so far.
    pub fn into_settings(self) -> Result<Settings, ConfigErrors> {
        self.problems.finish(self.settings)
    }
}

/// Reads the file at `path` with the process's `PURGEHOOK__` overrides.
pub fn load(path: &Path) -> Result<Loaded, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors::whole_file(path, format!("cannot read the file: {e}")))?;
    from_toml(&text, path, std::env::vars())
}

/// Reads a configuration given as TOML text, with overrides from `vars`.
/// `origin` only names the file in messages. Fails only when the text is
/// not TOML; every other problem is in [`Loaded::problems`].
pub fn from_toml(
    text: &str,
    origin: &Path,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigErrors> {
    let mut table: Table = toml::from_str(text)
        .map_err(|e| ConfigErrors::whole_file(origin, format!("not valid TOML: {e}")))?;
    let (overrides, unapplied) = env_override::apply(&mut table, vars);
    let mut problems = Problems::new(origin, Arc::new(overrides));
    problems.extend(unapplied);
    let settings = read_settings(table, origin, &mut problems);
    Ok(Loaded { settings, problems })
}

fn read_settings(table: Table, origin: &Path, problems: &mut Problems) -> Settings {
    let mut root = Fields::new(table, "", problems);
    let sections: Vec<(&str, Option<Value>)> = SECTIONS
        .iter()
        .map(|name| (*name, root.raw(name)))
        .collect();
    let unknown = root.into_rest();
    let mut settings = Settings {
        origin: origin.to_path_buf(),
        ..Settings::default()
    };
    for (name, value) in sections {
        let Some(value) = value else { continue };
        match name {
            "sources" => settings.sources = named(value, name, problems, SourceSettings::read),
            "targets" => settings.targets = targets(value, problems),
            "rules" => settings.rules = rules(value, problems),
            _ => read_section(&mut settings, name, value, problems),
        }
    }
    // Unknown sections last, after what the known ones hold.
    let _ = Fields::new(unknown, "", problems)
        .calling_keys("section")
        .also_valid(&SECTIONS)
        .finish();
    settings
}

fn read_section(settings: &mut Settings, name: &str, value: Value, problems: &mut Problems) {
    let Ok(fields) = Fields::of(value, name, problems) else {
        return;
    };
    match name {
        "server" => settings.server = ServerSettings::read(fields),
        "queue" => settings.queue = QueueSettings::read(fields),
        "worker" => settings.worker = WorkerSettings::read(fields),
        "dedupe" => settings.dedupe = DedupeSettings::read(fields),
        "history" => settings.history = HistorySettings::read(fields),
        _ => settings.log = LogSettings::read(fields),
    }
}

/// A table of named entries (`[sources.<id>]`), each read by `read`.
fn named<T>(
    value: Value,
    path: &str,
    problems: &mut Problems,
    read: impl Fn(Fields<'_>) -> T,
) -> BTreeMap<String, T> {
    let Value::Table(table) = value else {
        problems.at(path, "expected a table of named entries");
        return BTreeMap::new();
    };
    let mut entries = BTreeMap::new();
    for (id, entry) in table {
        let entry_path = format!("{path}.{id}");
        if TargetId::new(&id).is_err() {
            problems.at(&entry_path, "ids use only letters, digits, '-' and '_'");
            continue;
        }
        if let Ok(fields) = Fields::of(entry, &entry_path, problems) {
            entries.insert(id, read(fields));
        }
    }
    entries
}

fn targets(value: Value, problems: &mut Problems) -> BTreeMap<TargetId, TargetSettings> {
    named(value, "targets", problems, TargetSettings::read)
        .into_iter()
        .filter_map(|(id, target)| Some((TargetId::new(&id).ok()?, target)))
        .collect()
}

fn rules(value: Value, problems: &mut Problems) -> Vec<RuleSettings> {
    let Value::Array(entries) = value else {
        problems.at("rules", "expected an array of tables ([[rules]])");
        return Vec::new();
    };
    entries
        .into_iter()
        .enumerate()
        .filter_map(|(index, entry)| {
            let fields = Fields::of(entry, &format!("rules[{index}]"), problems).ok()?;
            RuleSettings::read(fields)
        })
        .collect()
}

#[cfg(test)]
mod tests;
