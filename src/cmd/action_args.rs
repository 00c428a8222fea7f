//! The command line's purge flags, derived from the action vocabulary: each
//! kind is named by its flag (`--everything`, `--url`, `--post-id`,
//! `--title`…) and each field of a kind has a flag of its own (`--related`,
//! `--full`, `--param KEY=VALUE`); what the flags give is built into an
//! action by the vocabulary's own parser.

use std::collections::BTreeSet;

use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgGroup, ArgMatches, Command};
use serde_json::{Map, Value};

use crate::action::{Action, ActionKind, FieldSpec, Shape};

/// An action given on the command line.
#[derive(Debug, Clone)]
pub struct ActionArgs(pub Action);

/// Every field's flag, once (`--full` serves two kinds).
fn flags() -> Vec<&'static FieldSpec> {
    let mut seen = BTreeSet::new();
    ActionKind::ALL
        .iter()
        .flat_map(|kind| kind.spec().fields)
        .filter(|field| seen.insert(field.flag))
        .collect()
}

fn help(field: &FieldSpec) -> String {
    let doc = field.doc.trim().trim_end_matches('.');
    match field.shape {
        Shape::Texts | Shape::Ids => format!("{doc} (repeatable)"),
        Shape::Params => {
            format!("{doc}, as KEY=VALUE; the value is read as JSON when it is JSON (repeatable)")
        }
        Shape::Flag | Shape::Text => doc.to_string(),
    }
}

fn arg(field: &FieldSpec) -> Arg {
    let arg = Arg::new(field.flag).long(field.flag).help(help(field));
    match field.shape {
        Shape::Flag => arg.action(ArgAction::SetTrue),
        Shape::Texts => arg.action(ArgAction::Append).value_name("VALUE"),
        Shape::Ids => arg
            .action(ArgAction::Append)
            .value_name("ID")
            .value_parser(clap::value_parser!(u64)),
        Shape::Text => arg.action(ArgAction::Set).value_name("NAME"),
        Shape::Params => arg.action(ArgAction::Append).value_name("KEY=VALUE"),
    }
}

impl clap::Args for ActionArgs {
    fn augment_args(mut command: Command) -> Command {
        let mut markers = Vec::new();
        for kind in ActionKind::ALL {
            let spec = kind.spec();
            markers.push(spec.flag_marker);
            if spec.field_by_flag(spec.flag_marker).is_none() {
                let doc = spec.doc.trim().trim_end_matches('.').to_string();
                command = command.arg(
                    Arg::new(spec.flag_marker)
                        .long(spec.flag_marker)
                        .help(doc)
                        .action(ArgAction::SetTrue),
                );
            }
        }
        for field in flags() {
            command = command.arg(arg(field));
        }
        command.group(ArgGroup::new("what").required(true).args(markers))
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

impl clap::FromArgMatches for ActionArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let kind = ActionKind::ALL
            .iter()
            .copied()
            .find(|kind| given(matches, kind.spec().flag_marker))
            .ok_or_else(|| {
                clap::Error::raw(ErrorKind::MissingRequiredArgument, "say what to purge")
            })?;
        let spec = kind.spec();
        let marker = spec.flag_marker;
        if let Some(stray) = flags()
            .into_iter()
            .find(|field| given(matches, field.flag) && spec.field_by_flag(field.flag).is_none())
        {
            let message = format!(
                "the argument '--{}' cannot be used with '--{marker}'\n",
                stray.flag
            );
            return Err(clap::Error::raw(ErrorKind::ArgumentConflict, message));
        }
        let mut object = Map::new();
        object.insert("kind".into(), spec.name.into());
        for field in spec.fields {
            if let Some(value) = value(matches, field)? {
                object.insert(field.name.into(), value);
            }
        }
        Action::from_object(object)
            .map(ActionArgs)
            .map_err(|invalid| clap::Error::raw(ErrorKind::ValueValidation, format!("{invalid}\n")))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

/// Whether the flag `id` was given on the command line.
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        matches.value_source(id),
        Some(clap::parser::ValueSource::CommandLine)
    )
}

/// The JSON value a field's flag gave, if any.
fn value(matches: &ArgMatches, field: &FieldSpec) -> Result<Option<Value>, clap::Error> {
    if !given(matches, field.flag) {
        return Ok(None);
    }
    let strings = || -> Vec<String> {
        matches
            .get_many::<String>(field.flag)
            .map(|values| values.cloned().collect())
            .unwrap_or_default()
    };
    Ok(Some(match field.shape {
        Shape::Flag => Value::Bool(true),
        Shape::Texts => strings().into(),
        Shape::Ids => matches
            .get_many::<u64>(field.flag)
            .map(|ids| ids.copied().collect::<Vec<_>>())
            .unwrap_or_default()
            .into(),
        Shape::Text => strings().into_iter().next().into(),
        Shape::Params => Value::Object(params(field.flag, strings())?),
    }))
}

fn params(flag: &str, given: Vec<String>) -> Result<Map<String, Value>, clap::Error> {
    let mut params = Map::new();
    for pair in given {
        let Some((key, raw)) = pair.split_once('=') else {
            let message = format!("--{flag} {pair:?}: expected KEY=VALUE\n");
            return Err(clap::Error::raw(ErrorKind::ValueValidation, message));
        };
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
        params.insert(key.trim().to_string(), value);
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use clap::{Args as _, FromArgMatches as _};

    use super::*;

    fn parse(flags: &[String]) -> Result<Action, clap::Error> {
        let command = ActionArgs::augment_args(Command::new("purge"));
        let matches = command.try_get_matches_from(
            std::iter::once("purge".to_string()).chain(flags.iter().cloned()),
        )?;
        ActionArgs::from_arg_matches(&matches).map(|args| args.0)
    }

    /// The flags that give every field of `kind`.
    fn flags_for(kind: ActionKind) -> Vec<String> {
        let spec = kind.spec();
        let mut flags = Vec::new();
        if spec.field_by_flag(spec.flag_marker).is_none() {
            flags.push(format!("--{}", spec.flag_marker));
        }
        for field in spec.fields {
            flags.push(format!("--{}", field.flag));
            match field.shape {
                Shape::Flag => {}
                Shape::Texts => flags.push("https://site.example/a/".into()),
                Shape::Ids => flags.push("7".into()),
                Shape::Text => flags.push("x".into()),
                Shape::Params => flags.push("id=7".into()),
            }
        }
        flags
    }

    #[test]
    fn every_kind_is_given_by_its_flags() {
        for kind in ActionKind::ALL {
            let action = parse(&flags_for(*kind)).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(action.kind(), *kind);
        }
    }

    #[test]
    fn repeated_flags_make_lists_and_params_keep_their_json_type() {
        let flags =
            ["--url", "https://a.example/", "--url", "https://b.example/"].map(String::from);
        assert_eq!(
            parse(&flags).unwrap(),
            Action::Urls {
                urls: vec!["https://a.example/".into(), "https://b.example/".into()]
            }
        );
        let flags = [
            "--title", "products", "--param", "id=7", "--param", "lang=en",
        ]
        .map(String::from);
        let Action::Resource { params, .. } = parse(&flags).unwrap() else {
            panic!("a resource");
        };
        assert_eq!(params["id"], serde_json::json!(7));
        assert_eq!(params["lang"], serde_json::json!("en"));
    }

    #[test]
    fn flags_of_another_kind_and_two_kinds_are_refused() {
        let stray = ["--url", "https://a.example/", "--related"].map(String::from);
        assert_eq!(
            parse(&stray).unwrap_err().kind(),
            ErrorKind::ArgumentConflict
        );
        let two = ["--url", "https://a.example/", "--everything"].map(String::from);
        assert!(parse(&two).is_err());
        let none: [String; 0] = [];
        assert!(parse(&none).is_err());
        let bad_id = ["--post-id", "x"].map(String::from);
        assert_eq!(
            parse(&bad_id).unwrap_err().kind(),
            ErrorKind::ValueValidation
        );
    }
}
