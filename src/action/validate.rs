//! What every provider relies on, checked before an action is queued:
//! lists are non-empty and not absurdly long, strings are non-empty, URLs
//! are absolute http(s), post ids start at 1.

use super::{Action, InvalidAction};

/// Upper bound on the items of one action (URLs, tags, ids…). Larger requests
/// are refused rather than silently truncated.
pub const MAX_ACTION_ITEMS: usize = 10_000;

impl Action {
    /// Checks the action against the vocabulary's rules; the error names
    /// the offending field.
    pub fn validate(&self) -> Result<(), InvalidAction> {
        let field = self.kind().as_str();
        let count = self.item_count();
        if count == 0 {
            return Err(InvalidAction::new(field, "must not be empty"));
        }
        if count > MAX_ACTION_ITEMS {
            return Err(InvalidAction::new(
                field,
                format!("has {count} items; at most {MAX_ACTION_ITEMS} are accepted"),
            ));
        }
        match self {
            Action::Urls { urls } => urls.iter().try_for_each(|url| check_absolute_url(url)),
            Action::Prefixes { prefixes: items }
            | Action::Tags { tags: items }
            | Action::Scopes { scopes: items, .. } => {
                if items.iter().any(|item| item.trim().is_empty()) {
                    Err(InvalidAction::new(field, "contains an empty string"))
                } else {
                    Ok(())
                }
            }
            Action::PostIds { post_ids, .. } if post_ids.contains(&0) => {
                Err(InvalidAction::new(field, "post ids start at 1; got 0"))
            }
            Action::Resource { title, .. } if title.trim().is_empty() => {
                Err(InvalidAction::new("title", "must not be empty"))
            }
            Action::Command { name } if name.trim().is_empty() => {
                Err(InvalidAction::new("name", "must not be empty"))
            }
            _ => Ok(()),
        }
    }
}

fn check_absolute_url(candidate: &str) -> Result<(), InvalidAction> {
    match url::Url::parse(candidate) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(()),
        _ => Err(InvalidAction::new(
            "urls",
            format!("{candidate:?} is not an absolute http(s) URL"),
        )),
    }
}
