//! Configuration problems: [`ConfigError`] (one problem, at a key path, from
//! the file or from a `PURGEHOOK__…` variable), [`Problems`] (what a load
//! collects as it reads, so that every problem is reported in one run) and
//! [`ConfigErrors`] (the report).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One problem in the configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path (`targets.blog.window`), or empty for the whole file.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
    /// The environment variable that set the value, when one did.
    pub variable: Option<String>,
}

impl ConfigError {
    /// Builds an error at `path`, in the file.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            variable: None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Which key paths `PURGEHOOK__…` variables set, and by which variable.
pub type Overrides = BTreeMap<String, String>;

/// The problems found so far while reading one configuration file.
#[derive(Debug, Clone)]
pub struct Problems {
    file: PathBuf,
    overrides: Arc<Overrides>,
    errors: Vec<ConfigError>,
}

impl Problems {
    /// Collects the problems of `file`, whose values `overrides` may have set.
    pub fn new(file: &Path, overrides: Arc<Overrides>) -> Problems {
        Problems {
            file: file.to_path_buf(),
            overrides,
            errors: Vec::new(),
        }
    }

    /// Records a problem at `path`, blaming the variable that set it (or
    /// one of its parents) if any.
    pub fn at(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        let variable = self
            .overrides
            .iter()
            .find(|(set, _)| {
                path == **set
                    || path
                        .strip_prefix(set.as_str())
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            })
            .map(|(_, variable)| variable.clone());
        self.errors.push(ConfigError {
            path,
            message: message.into(),
            variable,
        });
    }

    /// Whether a problem was recorded at `path` or inside it.
    pub fn has_at(&self, path: &str) -> bool {
        self.errors.iter().any(|error| {
            error.path == path
                || error
                    .path
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
    }

    /// Records problems found elsewhere.
    pub fn extend(&mut self, errors: impl IntoIterator<Item = ConfigError>) {
        self.errors.extend(errors);
    }

    /// Whether any problem was found.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// The overrides (for readers of nested tables).
    pub fn overrides(&self) -> Arc<Overrides> {
        self.overrides.clone()
    }

    /// `value` when nothing was found, else the report.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.into_errors())
        }
    }

    /// The report of what was found.
    pub fn into_errors(self) -> ConfigErrors {
        ConfigErrors {
            file: self.file,
            errors: self.errors,
        }
    }
}

/// Every problem found in a configuration file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors {
    /// The file.
    pub file: PathBuf,
    /// The problems, in the order found.
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// A report of one problem with the file as a whole.
    pub fn whole_file(file: &Path, message: impl Into<String>) -> ConfigErrors {
        ConfigErrors {
            file: file.to_path_buf(),
            errors: vec![ConfigError::new("", message)],
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        write!(
            f,
            "{} has {count} error{}:",
            self.file.display(),
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.errors {
            match &error.variable {
                Some(variable) => write!(f, "\n  {variable} (environment): {error}")?,
                None => write!(f, "\n  {}: {error}", self.file.display())?,
            }
        }
        Ok(())
    }
}
