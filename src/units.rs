//! Humane values of the configuration: durations (`"1500ms"`, `"2s"`,
//! `"1m"`) and rates (`"1/60s"`, `"10/s"`), with deserializers that say what
//! was expected. This module imports nothing from the rest of the crate.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A value that is not the humane duration or rate it should be; says what
/// was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidUnit(String);

/// Parses a humane duration (`"500ms"`, `"2s"`, `"1m 30s"`).
pub fn parse_duration(text: &str) -> Result<Duration, InvalidUnit> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        InvalidUnit(format!(
            "expected a duration like \"500ms\", \"2s\" or \"1m\", got {text:?}"
        ))
    })
}

/// A humane duration as a configuration value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumaneDuration(pub Duration);

impl<'de> Deserialize<'de> for HumaneDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(HumaneDuration)
            .map_err(serde::de::Error::custom)
    }
}

/// At most `calls` provider calls per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Calls allowed per period (≥ 1).
    pub calls: u32,
    /// The period.
    pub period: Duration,
}

impl Rate {
    /// The minimum spacing between two calls.
    pub fn interval(&self) -> Duration {
        self.period / self.calls
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            self.calls,
            humantime::format_duration(self.period)
        )
    }
}

impl std::str::FromStr for Rate {
    type Err = InvalidUnit;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected = || {
            InvalidUnit(format!(
                "expected a rate like \"1/60s\" or \"10/s\", got {text:?}"
            ))
        };
        let (calls, period) = text.trim().split_once('/').ok_or_else(expected)?;
        let calls: u32 = calls.trim().parse().map_err(|_| expected())?;
        let period = period.trim();
        let period = if period.starts_with(|c: char| c.is_ascii_digit()) {
            parse_duration(period).map_err(|_| expected())?
        } else {
            parse_duration(&format!("1{period}")).map_err(|_| expected())?
        };
        if calls == 0 || period.is_zero() {
            return Err(InvalidUnit(format!(
                "{text:?}: a rate needs at least 1 call per non-zero period"
            )));
        }
        Ok(Rate { calls, period })
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_humane() {
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(
            parse_duration("2 parsecs")
                .unwrap_err()
                .to_string()
                .contains("\"2 parsecs\"")
        );
    }

    #[test]
    fn rates_parse_both_forms() {
        let rate: Rate = "1/60s".parse().unwrap();
        assert_eq!(rate.interval(), Duration::from_secs(60));
        let rate: Rate = "10/s".parse().unwrap();
        assert_eq!(rate.interval(), Duration::from_millis(100));
        assert!("0/s".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
    }
}
