//! Secret references and the [`Secret`] value they resolve to.
//!
//! A configured secret is `env:NAME`, `file:PATH`, `generated:PATH` or a
//! literal. It is resolved once, when the configuration loads, into a
//! [`Secret`] whose `Debug` never shows the value and which has no `Display`
//! or `Serialize`: a secret cannot reach a log line or an error by accident.

use std::fmt;
use std::path::Path;

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

impl Secret {
    /// Resolves a reference (`env:NAME`, `file:PATH`, `generated:PATH`, or a
    /// literal). Errors name the reference, never the value.
    pub fn resolve(reference: &str) -> Result<Secret, String> {
        let (origin, value) = if let Some(name) = reference.strip_prefix("env:") {
            let value = std::env::var(name)
                .map_err(|_| format!("environment variable {name} is not set"))?;
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
            return Err(format!("{origin} is empty"));
        }
        Ok(Secret { value, origin })
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

fn read_secret_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// Reads a secret file, creating it first with a fresh random secret
/// (`whsec_` + base64 of 32 random bytes, mode 0600) when it does not exist.
fn read_or_generate(path: &Path) -> Result<String, String> {
    if !path.exists() {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        );
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        write_private(path, &secret)
            .map_err(|e| format!("cannot write secret file {}: {e}", path.display()))?;
    }
    read_secret_file(path)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
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
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::resolve("hunter2-literal").unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(literal)");
    }

    #[test]
    fn unset_env_is_named_without_value() {
        let err = Secret::resolve("env:PURGEHOOK_TEST_SURELY_UNSET").unwrap_err();
        assert_eq!(
            err,
            "environment variable PURGEHOOK_TEST_SURELY_UNSET is not set"
        );
    }

    #[test]
    fn generated_secret_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/hook.secret");
        let reference = format!("generated:{}", path.display());
        let first = Secret::resolve(&reference).unwrap();
        let second = Secret::resolve(&reference).unwrap();
        assert!(first.expose().starts_with("whsec_"));
        assert_eq!(first, second);
        let file_ref = format!("file:{}", path.display());
        assert_eq!(Secret::resolve(&file_ref).unwrap().expose(), first.expose());
    }
}
