//! How the action vocabulary describes itself: a [`KindSpec`] per kind and a
//! [`FieldSpec`] per field, generated with the enum by [`vocabulary!`] from
//! one definition. Every front end reads these instead of listing kinds or
//! fields of its own: the API and job parser ([`super::parse`]), the rule
//! compiler (rule keys and value shapes) and the command line (flags).

use serde::de::DeserializeOwned;
use serde_json::Value;

/// The shape of a field's value, which decides how front ends collect it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `true` or `false`; absent means false.
    Flag,
    /// A list of strings (URLs, prefixes, tags, scopes).
    Texts,
    /// A list of positive integers (post ids).
    Ids,
    /// One string.
    Text,
    /// A table of named parameters (any JSON values).
    Params,
}

impl Shape {
    /// Whether the field may be absent (flags and parameters may).
    pub const fn optional(self) -> bool {
        matches!(self, Shape::Flag | Shape::Params)
    }
}

/// Checks that a JSON value types as the field's Rust type; on error, the
/// path inside the value (`[1]`) and what is wrong.
pub type TypeCheck = fn(&Value) -> Result<(), (String, String)>;

/// One field of an action kind.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The field's name in JSON (the job and the API).
    pub name: &'static str,
    /// What it is (its doc comment).
    pub doc: &'static str,
    /// How its value is collected.
    pub shape: Shape,
    /// The key a rule's `[[rules.actions]]` table gives it under.
    pub rule_key: &'static str,
    /// The command-line flag (without `--`) that gives it.
    pub flag: &'static str,
    /// Checks a JSON value against the field's type.
    pub check: TypeCheck,
}

impl FieldSpec {
    /// A field whose rule key is its name and whose flag is its name with
    /// dashes; the vocabulary overrides either where they differ.
    pub const fn new(
        name: &'static str,
        doc: &'static str,
        shape: Shape,
        check: TypeCheck,
    ) -> FieldSpec {
        FieldSpec {
            name,
            doc,
            shape,
            rule_key: name,
            flag: name,
            check,
        }
    }

    /// Whether the field must be given.
    pub const fn required(&self) -> bool {
        !self.shape.optional()
    }
}

/// One action kind: its name and fields, and how a rule and the command
/// line say "this kind".
#[derive(Debug, Clone, Copy)]
pub struct KindSpec {
    /// The name (`urls`), as `kind` in JSON.
    pub name: &'static str,
    /// What it purges (its doc comment).
    pub doc: &'static str,
    /// The rule key whose presence names the kind (`urls`, or `everything
    /// = true`, which is no field).
    pub rule_marker: &'static str,
    /// The flag that names the kind on the command line (`--url`).
    pub flag_marker: &'static str,
    /// Its fields.
    pub fields: &'static [FieldSpec],
}

impl KindSpec {
    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// The field a rule gives under `key`.
    pub fn field_by_rule_key(&self, key: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|field| field.rule_key == key)
    }

    /// The field the command line gives with `--flag`.
    pub fn field_by_flag(&self, flag: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|field| field.flag == flag)
    }

    /// Whether the rule marker is a flag of its own (`everything = true`)
    /// rather than one of the fields.
    pub fn marker_is_flag(&self) -> bool {
        self.field_by_rule_key(self.rule_marker).is_none()
    }
}

/// Checks that `value` types as `T`; on error, the path inside it.
pub fn type_check<T: DeserializeOwned>(value: &Value) -> Result<(), (String, String)> {
    serde_path_to_error::deserialize::<_, T>(value)
        .map(drop)
        .map_err(|error| {
            let path = error.path().to_string();
            let path = if path == "." { String::new() } else { path };
            (path, error.into_inner().to_string())
        })
}

/// Defines the purge actions once: the [`Action`](super::Action) enum (the
/// wire format, through serde), [`ActionKind`](super::ActionKind) with the
/// list of every kind, and the [`KindSpec`] of each kind, from which the
/// parsers, the rule compiler and the command line are derived.
///
/// Each kind is `Variant = "name", rule "marker", flag "marker" { fields }`;
/// each field is its doc comment, its serde attributes, `name: Type =>
/// Shape` and optional overrides (`, rule_key = "…"`, `, flag = "…"`).
macro_rules! vocabulary {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $name:literal, rule $rule_marker:literal, flag $flag_marker:literal {
            $(
                $(#[doc = $field_doc:literal])*
                $(#[serde $serde:tt])*
                $field:ident : $ty:ty => $shape:ident $(, $option:ident = $value:expr)*;
            )*
        }
    )*) => {
        /// What to purge at one target: the common purge vocabulary of DESIGN.md.
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
        pub enum Action {
            $(
                $(#[doc = $doc])*
                $variant {
                    $( $(#[doc = $field_doc])* $(#[serde $serde])* $field: $ty, )*
                },
            )*
        }

        /// The kind of an [`Action`], without its data.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ActionKind {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl ActionKind {
            /// Every kind, in the vocabulary's order.
            pub const ALL: &'static [ActionKind] = &[$(ActionKind::$variant),*];

            /// The kind's description: name, fields, markers.
            pub fn spec(self) -> &'static $crate::action::KindSpec {
                match self {
                    $(
                        ActionKind::$variant => {
                            const FIELDS: &[$crate::action::FieldSpec] = &[$(
                                $crate::action::FieldSpec {
                                    $($option: $value,)*
                                    ..$crate::action::FieldSpec::new(
                                        stringify!($field),
                                        concat!($($field_doc),*),
                                        $crate::action::Shape::$shape,
                                        $crate::action::spec::type_check::<$ty>,
                                    )
                                },
                            )*];
                            const SPEC: $crate::action::KindSpec = $crate::action::KindSpec {
                                name: $name,
                                doc: concat!($($doc),*),
                                rule_marker: $rule_marker,
                                flag_marker: $flag_marker,
                                fields: FIELDS,
                            };
                            &SPEC
                        }
                    )*
                }
            }
        }

        impl Action {
            /// This action's kind.
            pub fn kind(&self) -> ActionKind {
                match self {
                    $( Action::$variant { .. } => ActionKind::$variant, )*
                }
            }
        }
    };
}

pub(crate) use vocabulary;
