//! Routing rules: [`RuleSet::compile`] turns `[[rules]]` into compiled
//! conditions and action templates (every error at start-up, naming the
//! rule), and [`RuleSet::route`] maps one verified [`Event`] to the jobs it
//! asks for. Pure and synchronous: no I/O, no clock.

mod action;
pub(crate) mod expressions;

use std::collections::BTreeMap;

use minijinja::value::Value;
use serde::Serialize;
use wildmatch::WildMatch;

use crate::config::{ConfigError, Settings};
use crate::job::Job;
use crate::provider::Capabilities;
use crate::source::{Event, EventData, Unverified};
use action::ActionTemplate;
use expressions::{Compiled, compile, describe};

struct Rule {
    name: String,
    source: String,
    event: WildMatch,
    when: Option<Compiled>,
    actions: Vec<ActionTemplate>,
}

/// The compiled rules of a configuration.
pub struct RuleSet {
    rules: Vec<Rule>,
    capabilities: BTreeMap<String, Capabilities>,
}

/// What routing an event produced.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Routed {
    /// The names of the rules that matched, in order.
    pub matched_rules: Vec<String>,
    /// The jobs to queue.
    pub jobs: Vec<Job>,
    /// Matching actions that produced nothing to purge, and why.
    pub notes: Vec<String>,
}

/// An event that a matching rule could not turn into valid jobs: the
/// sender's data does not fit the rule (→ 422). Names rule and action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule:?}: {message}")]
pub struct RouteError {
    /// The rule's name.
    pub rule: String,
    /// What went wrong, naming the action and field.
    pub message: String,
}

impl RuleSet {
    /// Compiles every rule of `settings`, checking sources, targets, action
    /// kinds against each target's provider, and literal values.
    pub fn compile(settings: &Settings) -> Result<RuleSet, Vec<ConfigError>> {
        let env = expressions::environment();
        let capabilities: BTreeMap<String, Capabilities> = settings
            .targets
            .iter()
            .map(|(id, t)| (id.clone(), t.provider.capabilities()))
            .collect();
        let mut errors = Vec::new();
        let mut rules = Vec::new();
        for (index, rule) in settings.rules.iter().enumerate() {
            let path = format!("rules[{index}]");
            let mut error = |key: &str, message: String| {
                let at = if key.is_empty() {
                    path.clone()
                } else {
                    format!("{path}.{key}")
                };
                errors.push(ConfigError::new(
                    at,
                    format!("rule {:?}: {message}", rule.name),
                ));
            };
            if !settings.sources.contains_key(&rule.source) {
                error(
                    "source",
                    format!(
                        "unknown source {:?}; define [sources.{}]",
                        rule.source, rule.source
                    ),
                );
            }
            let when = match &rule.when {
                Some(condition) => match compile(env, condition) {
                    Ok(compiled) => Some(compiled),
                    Err(message) => {
                        error("when", message);
                        None
                    }
                },
                None => None,
            };
            if rule.actions.is_empty() {
                error(
                    "actions",
                    "at least one [[rules.actions]] is required".into(),
                );
            }
            let mut actions = Vec::new();
            for (number, table) in rule.actions.iter().enumerate() {
                let key = |k: &str| {
                    if k.is_empty() {
                        format!("actions[{number}]")
                    } else {
                        format!("actions[{number}].{k}")
                    }
                };
                match ActionTemplate::compile(env, table.clone()) {
                    Err((k, message)) => error(&key(&k), message),
                    Ok(template) => match capabilities.get(&template.target) {
                        None => error(
                            &key("target"),
                            format!(
                                "unknown target {:?}; define [targets.{}]",
                                template.target, template.target
                            ),
                        ),
                        Some(caps) if !caps.supports(template.kind()) => {
                            let provider = settings.targets[&template.target].provider.name();
                            error(
                                &key(""),
                                format!(
                                    "target {:?} ({provider}) does not support {} actions",
                                    template.target,
                                    template.kind()
                                ),
                            );
                        }
                        Some(caps) => {
                            // Literal actions are checked now; templated ones per event.
                            if let Ok(Some(action)) = template.render(&Value::UNDEFINED)
                                && let Err(message) = caps.accepts(&action)
                            {
                                error(&key(""), format!("target {:?}: {message}", template.target));
                            }
                            actions.push(template);
                        }
                    },
                }
            }
            rules.push(Rule {
                name: rule.name.clone(),
                source: rule.source.clone(),
                event: WildMatch::new(&rule.event),
                when,
                actions,
            });
        }
        if errors.is_empty() {
            Ok(RuleSet {
                rules,
                capabilities,
            })
        } else {
            Err(errors)
        }
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The jobs a verified event asks for.
    pub fn route(&self, event: &Event) -> Result<Routed, RouteError> {
        self.route_data(event)
    }

    /// The jobs an unverified event would ask for (dry runs only).
    pub fn preview(&self, event: &Unverified) -> Result<Routed, RouteError> {
        self.route_data(event)
    }

    fn route_data(&self, event: &EventData) -> Result<Routed, RouteError> {
        let ctx = minijinja::context! {
            payload => Value::from_serialize(&event.payload),
            headers => Value::from_serialize(&event.headers),
            event => Value::from_serialize(event.reference()),
            source => event.source.clone(),
            delivery_id => event.delivery_id.clone(),
        };
        let mut routed = Routed::default();
        for rule in &self.rules {
            if rule.source != event.source || !rule.event.matches(&event.event_type) {
                continue;
            }
            let fail = |message: String| RouteError {
                rule: rule.name.clone(),
                message,
            };
            if let Some(condition) = &rule.when {
                let holds = condition
                    .eval(ctx.clone())
                    .map_err(|e| fail(format!("when: {}", describe(&e))))?;
                if !holds.is_true() {
                    continue;
                }
            }
            routed.matched_rules.push(rule.name.clone());
            for (number, template) in rule.actions.iter().enumerate() {
                let action = template
                    .render(&ctx)
                    .map_err(|m| fail(format!("actions[{number}]: {m}")))?;
                let Some(action) = action else {
                    routed.notes.push(format!(
                        "rule {:?} actions[{number}]: nothing to purge for this event",
                        rule.name
                    ));
                    continue;
                };
                if let Some(caps) = self.capabilities.get(&template.target) {
                    caps.accepts(&action).map_err(|m| {
                        fail(format!(
                            "actions[{number}] (target {:?}): {m}",
                            template.target
                        ))
                    })?;
                }
                routed
                    .jobs
                    .push(Job::new(&template.target, action, Some(event.reference())));
            }
        }
        Ok(routed)
    }
}

#[cfg(test)]
mod tests;
