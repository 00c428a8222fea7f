//! HMAC-SHA256 and constant-time comparison against several secrets.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `provided` equals the MAC computed for any key, comparing every
/// candidate in constant time.
pub fn matches_any<'a>(
    keys: impl IntoIterator<Item = &'a [u8]>,
    parts: &[&[u8]],
    provided: &[u8],
) -> bool {
    let mut found = subtle::Choice::from(0);
    for key in keys {
        found |= hmac_sha256(key, parts).ct_eq(provided);
    }
    found.into()
}
