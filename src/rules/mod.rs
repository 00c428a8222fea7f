//! Routing rules: [`RuleSet::compile`] turns `[[rules]]` into compiled
//! conditions and action templates (every problem at start-up, naming the
//! rule), and [`RuleSet::route`] maps one verified [`Event`] to the jobs it
//! asks for. Pure and synchronous: no I/O, no clock.

mod action;
mod render;

use std::collections::{BTreeMap, BTreeSet};

use minijinja::value::Value;
use serde::Serialize;
use wildmatch::WildMatch;

use crate::capability::Capabilities;
use crate::config::{Problems, RuleSettings};
use crate::job::{Job, TargetId};
use crate::source::{Event, EventData, Unverified};
use crate::template::{Compiled, TemplateError, compile};
use action::ActionTemplate;
pub use render::RenderError;

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
    targets: BTreeMap<TargetId, Capabilities>,
}

/// What routing an event produced.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Routed {
    /// The names of the rules that matched, in order.
    pub matched_rules: Vec<String>,
    /// The jobs to queue.
    pub jobs: Vec<Job>,
    /// The rule that made each job, in the order of `jobs`.
    #[serde(skip)]
    pub job_rules: Vec<String>,
    /// Matching actions that produced nothing to purge, and why.
    pub notes: Vec<String>,
}

/// An event that a matching rule could not turn into valid jobs: the
/// sender's data does not fit the rule (→ 422). Names rule and action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule:?}: {problem}")]
pub struct RouteError {
    /// The rule's name.
    pub rule: String,
    /// What went wrong.
    pub problem: RouteProblem,
}

/// What went wrong routing an event through a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteProblem {
    /// The condition failed to evaluate.
    #[error("when: {0}")]
    Condition(TemplateError),
    /// An action's values could not be rendered.
    #[error("actions[{action}]: {error}")]
    Render {
        /// The action's index in the rule.
        action: usize,
        /// Why.
        error: RenderError,
    },
    /// The target's provider refuses the action made.
    #[error("actions[{action}] (target {target:?}): {refusal}")]
    Refused {
        /// The action's index in the rule.
        action: usize,
        /// The target.
        target: TargetId,
        /// Why.
        refusal: crate::capability::Refusal,
    },
}

impl RuleSet {
    /// Compiles `rules`, checking their sources against `sources`, their
    /// targets and action kinds against `targets`, and their literal values
    /// against each target's provider. Every problem is recorded.
    pub fn compile(
        rules: &[RuleSettings],
        sources: &BTreeSet<String>,
        targets: BTreeMap<TargetId, Capabilities>,
        problems: &mut Problems,
    ) -> RuleSet {
        let rules = rules
            .iter()
            .map(|rule| compile_rule(rule, sources, &targets, problems))
            .collect();
        RuleSet { rules, targets }
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
            payload => event.payload.template_value(),
            headers => Value::from_serialize(&event.headers),
            query => Value::from_serialize(&event.query),
            event => Value::from_serialize(event.reference()),
            source => event.source.clone(),
            delivery_id => event.delivery_id.clone(),
        };
        let mut routed = Routed::default();
        for rule in &self.rules {
            if rule.source != event.source || !rule.event.matches(&event.event_type) {
                continue;
            }
            let fail = |problem| RouteError {
                rule: rule.name.clone(),
                problem,
            };
            if let Some(condition) = &rule.when {
                let holds = condition
                    .eval(ctx.clone())
                    .map_err(|e| fail(RouteProblem::Condition(e.into())))?;
                if !holds.is_true() {
                    continue;
                }
            }
            routed.matched_rules.push(rule.name.clone());
            for (action, template) in rule.actions.iter().enumerate() {
                let made = template
                    .render(&ctx)
                    .map_err(|error| fail(RouteProblem::Render { action, error }))?;
                let Some(made) = made else {
                    routed.notes.push(format!(
                        "rule {:?} actions[{action}]: nothing to purge for this event",
                        rule.name
                    ));
                    continue;
                };
                if let Some(capabilities) = self.targets.get(&template.target) {
                    capabilities.accepts(&made).map_err(|refusal| {
                        fail(RouteProblem::Refused {
                            action,
                            target: template.target.clone(),
                            refusal,
                        })
                    })?;
                }
                let job = Job::new(template.target.clone(), made, Some(event.reference()));
                routed.jobs.push(job);
                routed.job_rules.push(rule.name.clone());
            }
        }
        Ok(routed)
    }
}

fn compile_rule(
    rule: &RuleSettings,
    sources: &BTreeSet<String>,
    targets: &BTreeMap<TargetId, Capabilities>,
    problems: &mut Problems,
) -> Rule {
    let mut problem = |key: &str, message: String| {
        let at = match key {
            "" => rule.path.clone(),
            key if key.starts_with('[') => format!("{}{key}", rule.path),
            key => format!("{}.{key}", rule.path),
        };
        problems.at(at, format!("rule {:?}: {message}", rule.name));
    };
    if !sources.contains(&rule.source) {
        let source = &rule.source;
        problem(
            "source",
            format!("unknown source {source:?}; define [sources.{source}]"),
        );
    }
    let when = rule.when.as_deref().and_then(|condition| {
        compile(condition)
            .map_err(|e| problem("when", e.to_string()))
            .ok()
    });
    let mut actions = Vec::new();
    for (index, table) in rule.actions.iter().enumerate() {
        let at = |key: &str| match key {
            "" => format!("actions[{index}]"),
            key => format!("actions[{index}].{key}"),
        };
        match ActionTemplate::compile(table.clone()) {
            Err((key, message)) => problem(&at(&key), message),
            Ok(template) => match check_template(&template, targets) {
                Ok(()) => actions.push(template),
                Err((key, message)) => problem(&at(key), message),
            },
        }
    }
    Rule {
        name: rule.name.clone(),
        source: rule.source.clone(),
        event: WildMatch::new(&rule.event),
        when,
        actions,
    }
}

/// Checks an action template against its target: the target exists and
/// takes the kind, and a fully literal action is one its provider accepts
/// (templated values are checked per event). The error's key is `target`
/// or `""` (the action).
fn check_template(
    template: &ActionTemplate,
    targets: &BTreeMap<TargetId, Capabilities>,
) -> Result<(), (&'static str, String)> {
    let target = &template.target;
    let Some(capabilities) = targets.get(target) else {
        return Err((
            "target",
            format!("unknown target {target:?}; define [targets.{target}]"),
        ));
    };
    if !capabilities.supports(template.kind()) {
        return Err((
            "",
            format!(
                "target {target:?} ({}) does not support {} actions",
                capabilities.provider,
                template.kind()
            ),
        ));
    }
    if !template.is_literal() {
        return Ok(());
    }
    match template.render(&Value::UNDEFINED) {
        Ok(Some(action)) => capabilities
            .accepts(&action)
            .map_err(|refusal| ("", format!("target {target:?}: {refusal}"))),
        Ok(None) => Ok(()),
        Err(error) => Err(("", error.to_string())),
    }
}

#[cfg(test)]
mod tests;
