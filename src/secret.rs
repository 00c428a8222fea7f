//! Secret references: `env:NAME`, `file:PATH`, `generated:PATH` or a literal,
//! resolved when the configuration loads. [`Secret`] has no `Display` or
//! `Serialize`, and its `Debug` shows only where it came from: a secret
//! cannot reach a log line or an error by accident. This module imports
//! nothing from the rest of the crate.

use std::fmt;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rand::RngCore as _;
use serde::{Deserialize, Deserializer};

/// A resolved secret value. Its contents are only reachable through
/// [`Secret::expose`], which call sites use for signing and credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    origin: String,
}

/// Why a reference could not be resolved. Names the reference, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `env:NAME` with `NAME` unset.
    #[error("environment variable {0} is not set")]
    Unset(String),
    /// A reference that resolved to nothing.
    #[error("{0} is empty")]
    Empty(String),
    /// A `generated:` file that exists but holds nothing (never written in
    /// full by purgehook, which links a complete file into place).
    #[error("generated:{} exists but is empty: delete it to have a new secret generated, or write one into it", .0.display())]
    EmptyGenerated(PathBuf),
    /// A file that cannot be read.
    #[error("cannot read secret file {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A `generated:` file that cannot be created.
    #[error("cannot create secret file {}: {source}", path.display())]
    Uncreatable {
        /// The file (or its directory).
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl Secret {
    /// Resolves a reference (`env:NAME`, `file:PATH`, `generated:PATH`, or a
    /// literal). Errors name the reference, never the value.
    pub fn resolve(reference: &str) -> Result<Secret, SecretError> {
        let (origin, value) = if let Some(name) = reference.strip_prefix("env:") {
            let value = std::env::var(name).map_err(|_| SecretError::Unset(name.to_string()))?;
            (format!("env:{name}"), value)
        } else if let Some(path) = reference.strip_prefix("file:") {
            (format!("file:{path}"), read_secret_file(Path::new(path))?)
        } else if let Some(path) = reference.strip_prefix("generated:") {
            (
                format!("generated:{path}"),
                read_or_generate(Path::new(path))?,
            )
        } else {
            ("literal".to_string(), reference.to_string())
        };
        if value.is_empty() {
            return Err(SecretError::Empty(origin));
        }
        Ok(Secret { value, origin })
    }

    /// Whether `text` is written as a reference (`env:`, `file:`,
    /// `generated:`) rather than a literal.
    pub fn is_reference(text: &str) -> bool {
        ["env:", "file:", "generated:"]
            .iter()
            .any(|prefix| text.starts_with(prefix))
    }

    /// A secret built from a value in code (tests, generated tokens).
    pub fn from_value(value: impl Into<String>) -> Secret {
        Secret {
            value: value.into(),
            origin: "value".into(),
        }
    }

    /// The secret itself. Use it only to sign, verify or authenticate.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Where the secret came from (`env:NAME`, `file:PATH`, `literal`), safe to print.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.origin)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let reference = String::deserialize(deserializer)?;
        Secret::resolve(&reference).map_err(serde::de::Error::custom)
    }
}

fn read_secret_file(path: &Path) -> Result<String, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// Reads a `generated:` secret file, creating it first with a fresh random
/// secret (`whsec_` + base64 of 32 random bytes, mode 0600) when it does
/// not exist. Safe when several processes do it at once: the secret is
/// written in full to a private temporary file beside it, then linked into
/// place without replacing anything; whoever loses the race reads the
/// winner's file. An existing file is never overwritten.
fn read_or_generate(path: &Path) -> Result<String, SecretError> {
    match std::fs::read_to_string(path) {
        Ok(text) => return non_empty_generated(path, text),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(SecretError::Unreadable {
                path: path.to_path_buf(),
                source,
            });
        }
    }
    let uncreatable = |source| SecretError::Uncreatable {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(uncreatable)?;
    }
    let draft = draft_path(path);
    let written =
        write_private(&draft, &generate()).and_then(|()| match std::fs::hard_link(&draft, path) {
            Err(error) if error.kind() != io::ErrorKind::AlreadyExists => Err(error),
            _ => Ok(()),
        });
    // The draft is only a name for the complete file; the link (ours or the
    // winner's) is what stays.
    let _ = std::fs::remove_file(&draft);
    written.map_err(uncreatable)?;
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    non_empty_generated(path, text)
}

fn non_empty_generated(path: &Path, text: String) -> Result<String, SecretError> {
    let value = text.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        return Err(SecretError::EmptyGenerated(path.to_path_buf()));
    }
    Ok(value)
}

/// A fresh random secret: `whsec_` and the base64 of 32 random bytes (a
/// Standard Webhooks secret, and a good one for any other scheme).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A temporary name beside `path`, unique to this process and call.
fn draft_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(
        || "secret".into(),
        |name| name.to_string_lossy().into_owned(),
    );
    let unique = rand::rng().next_u64();
    path.with_file_name(format!(".{name}.{}.{unique:016x}.tmp", std::process::id()))
}

fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
#[path = "secret_tests.rs"]
mod tests;
