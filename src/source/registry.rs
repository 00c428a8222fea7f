//! The registry of every sender's signature scheme ([`SCHEMES`]), which
//! reads a source's scheme-specific keys and builds it. A new sender is one
//! module and one line here.

use super::scheme::SchemeRegistration;
use super::{contentful, github, hmac_kind, standard, token, woocommerce, wp_webhooks};

/// Every scheme.
pub const SCHEMES: [SchemeRegistration; 7] = [
    github::SCHEME,
    standard::SCHEME,
    wp_webhooks::SCHEME,
    woocommerce::SCHEME,
    hmac_kind::SCHEME,
    token::SCHEME,
    contentful::SCHEME,
];

/// The scheme names, comma-separated (for messages).
pub fn names() -> String {
    SCHEMES
        .iter()
        .map(|scheme| scheme.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The scheme called `name`.
pub fn find(name: &str) -> Option<&'static SchemeRegistration> {
    SCHEMES.iter().find(|scheme| scheme.name == name)
}
