//! HMAC (ring's, which takes keys of any length) and constant-time
//! comparison against several secrets.

use ring::hmac;
use subtle::ConstantTimeEq;

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut context = hmac::Context::with_key(&key);
    for part in parts {
        context.update(part);
    }
    context.sign().as_ref().to_vec()
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
