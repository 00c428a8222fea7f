//! HMAC (ring's, which takes keys of any length) with the three hash
//! functions senders use, the text encodings of a MAC, and constant-time
//! comparison against several secrets.

use base64::Engine as _;
use base64::engine::general_purpose::{
    STANDARD as BASE64, STANDARD_NO_PAD as BASE64_NO_PAD, URL_SAFE as BASE64URL,
    URL_SAFE_NO_PAD as BASE64URL_NO_PAD,
};
use ring::hmac;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// The hash function of an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// HMAC-SHA1 (Storyblok; GitHub's legacy header).
    Sha1,
    /// HMAC-SHA256 (nearly everyone).
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl Algorithm {
    fn ring(self) -> hmac::Algorithm {
        match self {
            Algorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::Sha256 => hmac::HMAC_SHA256,
            Algorithm::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

/// How a MAC is written as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Hexadecimal (read in either case, written in lower case).
    Hex,
    /// Standard base64 (read with or without padding, written with it).
    Base64,
    /// URL-safe base64 (read with or without padding, written without, as
    /// Sanity sends it).
    Base64url,
}

impl Encoding {
    /// The MAC's bytes, or `None` when `text` is not in this encoding.
    pub fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Encoding::Hex => hex::decode(text).ok(),
            Encoding::Base64 => BASE64
                .decode(text)
                .or_else(|_| BASE64_NO_PAD.decode(text))
                .ok(),
            Encoding::Base64url => BASE64URL_NO_PAD
                .decode(text)
                .or_else(|_| BASE64URL.decode(text))
                .ok(),
        }
    }

    /// The MAC as text.
    pub fn encode(self, mac: &[u8]) -> String {
        match self {
            Encoding::Hex => hex::encode(mac),
            Encoding::Base64 => BASE64.encode(mac),
            Encoding::Base64url => BASE64URL_NO_PAD.encode(mac),
        }
    }
}

/// HMAC of the concatenated `parts` under `key`.
pub fn mac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let key = hmac::Key::new(algorithm.ring(), key);
    let mut context = hmac::Context::with_key(&key);
    for part in parts {
        context.update(part);
    }
    context.sign().as_ref().to_vec()
}

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    mac(Algorithm::Sha256, key, parts)
}

/// Whether `provided` equals the HMAC-SHA256 computed for any key.
pub fn matches_any<'a>(
    keys: impl IntoIterator<Item = &'a [u8]>,
    parts: &[&[u8]],
    provided: &[u8],
) -> bool {
    matches_any_with(Algorithm::Sha256, keys, parts, provided)
}

/// Whether `provided` equals the MAC computed for any key, comparing every
/// candidate in constant time.
pub fn matches_any_with<'a>(
    algorithm: Algorithm,
    keys: impl IntoIterator<Item = &'a [u8]>,
    parts: &[&[u8]],
    provided: &[u8],
) -> bool {
    let mut found = subtle::Choice::from(0);
    for key in keys {
        found |= mac(algorithm, key, parts).ct_eq(provided);
    }
    found.into()
}

/// Whether `presented` equals any of `secrets`, in time that depends on
/// neither's length nor contents: both sides are hashed (SHA-256) first.
pub fn equals_any<'a>(secrets: impl IntoIterator<Item = &'a [u8]>, presented: &[u8]) -> bool {
    let presented = ring::digest::digest(&ring::digest::SHA256, presented);
    let mut found = subtle::Choice::from(0);
    for secret in secrets {
        let secret = ring::digest::digest(&ring::digest::SHA256, secret);
        found |= secret.as_ref().ct_eq(presented.as_ref());
    }
    found.into()
}
