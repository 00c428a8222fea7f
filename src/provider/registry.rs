//! The provider registry: one table of every provider purgehook knows, each
//! with its name, its [`Capabilities`] and how it reads its keys of a
//! `[targets.<id>]` table and builds its adapter. The wiring layer asks it
//! for each configured target; a new provider is one module and one line
//! in [`PROVIDERS`].

use std::sync::Arc;

use super::registration::{Context, Registration};
use super::{
    Provider, bigscoots, brilliant_directories, cache_tasks, cloudflare, fastly, http_api, log,
    oracle_ocm, varnish, wpengine,
};
use crate::capability::Capabilities;
use crate::config::{ConfigError, Problems, Unread};
use crate::job::TargetId;

/// Every provider.
pub const PROVIDERS: [Registration; 10] = [
    bigscoots::PROVIDER,
    brilliant_directories::PROVIDER,
    oracle_ocm::PROVIDER,
    cache_tasks::PROVIDER,
    wpengine::PROVIDER,
    cloudflare::PROVIDER,
    fastly::PROVIDER,
    varnish::PROVIDER,
    http_api::PROVIDER,
    log::PROVIDER,
];

/// The provider names, comma-separated (for messages).
pub fn names() -> String {
    PROVIDERS
        .iter()
        .map(|provider| provider.capabilities.provider)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The provider called `name`.
pub fn find(name: &str) -> Option<&'static Registration> {
    PROVIDERS
        .iter()
        .find(|provider| provider.capabilities.provider == name)
}

/// A target's provider, built.
#[derive(Clone)]
pub struct Configured {
    /// What it accepts, and its name.
    pub capabilities: Capabilities,
    /// The adapter.
    pub provider: Arc<dyn Provider>,
}

/// Builds the provider `name` of `target` from its keys in `options`;
/// `None` when anything is wrong (every problem is recorded).
pub fn configure(
    target: &TargetId,
    name: Option<&str>,
    options: &Unread,
    client: &reqwest::Client,
    problems: &mut Problems,
) -> Option<Configured> {
    let key = format!("{}.provider", options.path);
    let registration = match name {
        None => {
            problems.at(key, format!("missing; expected one of {}", names()));
            None
        }
        Some(name) => {
            let found = find(name);
            if found.is_none() {
                problems.at(
                    key,
                    format!("unknown provider {name:?}; expected one of {}", names()),
                );
            }
            found
        }
    }?;
    let mut fields = options.fields(problems);
    let context = Context { target, client };
    let built = (registration.build)(&mut fields, &context);
    let finished = fields.finish();
    finished.ok()?;
    Some(Configured {
        capabilities: registration.capabilities,
        provider: built.ok()?,
    })
}

/// Builds the provider `name` of `target` from a table of its keys, outside
/// a configuration file (tests and tools); the problems are at
/// `targets.<target>.<key>`.
pub fn standalone(
    name: &str,
    table: toml::Table,
    target: &TargetId,
    client: &reqwest::Client,
) -> Result<Configured, Vec<ConfigError>> {
    let options = Unread {
        table,
        path: format!("targets.{target}"),
        read: crate::config::TARGET_KEYS,
    };
    let mut problems = Problems::new(std::path::Path::new("(standalone)"), Default::default());
    let configured = configure(target, Some(name), &options, client, &mut problems);
    match configured {
        Some(configured) if problems.is_empty() => Ok(configured),
        _ => Err(problems.into_errors().errors),
    }
}
