//! What a provider accepts, known from its settings alone: the action kinds
//! it can perform, its documented per-call limits, its own checks of an
//! action's values, and its documented rate limit. The rule compiler, the
//! purge API and the worker's coalescer all read [`Capabilities`]; only the
//! provider registry makes them.

use crate::action::{Action, ActionKind, InvalidAction};
use crate::units::Rate;

/// What a provider accepts.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// The provider's name (`provider = "…"`).
    pub provider: &'static str,
    /// The action kinds it can perform.
    pub kinds: &'static [ActionKind],
    /// Documented per-call item limits, by kind.
    pub max_items: &'static [(ActionKind, usize)],
    /// Provider-specific validation of an action's values (scope names,
    /// command names), run when rules load and before jobs are queued.
    pub check: fn(&Action) -> Result<(), String>,
    /// A documented rate limit, applied to the calls it selects when the
    /// target sets no `rate` of its own.
    pub default_rate: Option<DefaultRate>,
}

/// A provider's documented rate limit for some of its calls.
#[derive(Debug, Clone, Copy)]
pub struct DefaultRate {
    /// The limit.
    pub rate: Rate,
    /// Which calls it applies to.
    pub applies_to: fn(&Action) -> bool,
}

/// Why a provider cannot take an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The provider performs no action of this kind.
    #[error(
        "action kind {kind} is not supported; this provider supports {}",
        kinds(supported)
    )]
    Kind {
        /// The kind asked for.
        kind: ActionKind,
        /// The kinds it performs.
        supported: &'static [ActionKind],
    },
    /// The action breaks the vocabulary's rules (empty, relative URL…).
    #[error(transparent)]
    Invalid(#[from] InvalidAction),
    /// The provider's own check refused a value (an undocumented scope…).
    #[error("{0}")]
    Value(String),
}

fn kinds(list: &[ActionKind]) -> String {
    list.iter()
        .map(|kind| kind.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Capabilities {
    /// Accepts every kind, without limits or checks (the `log` and `http`
    /// providers).
    pub const fn any(provider: &'static str) -> Capabilities {
        Capabilities {
            provider,
            kinds: ActionKind::ALL,
            max_items: &[],
            check: accept_any,
            default_rate: None,
        }
    }

    /// Whether `kind` is supported.
    pub fn supports(&self, kind: ActionKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// The kinds supported, comma-separated (for messages).
    pub fn kind_names(&self) -> String {
        kinds(self.kinds)
    }

    /// The per-call item limit for `kind`, if the provider documents one.
    pub fn max_items(&self, kind: ActionKind) -> Option<usize> {
        self.max_items
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, n)| *n)
    }

    /// Checks that `action` can be sent to this provider; names the problem.
    pub fn accepts(&self, action: &Action) -> Result<(), Refusal> {
        if !self.supports(action.kind()) {
            return Err(Refusal::Kind {
                kind: action.kind(),
                supported: self.kinds,
            });
        }
        action.validate()?;
        (self.check)(action).map_err(Refusal::Value)
    }
}

/// A provider check that accepts every value.
pub fn accept_any(_: &Action) -> Result<(), String> {
    Ok(())
}
