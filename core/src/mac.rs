//! HMAC-SHA256 made without a fallible call: the key is turned into the 64-byte block key
//! HMAC itself would use (hashed when longer than a block, padded with zeros when shorter),
//! so there is no error to handle and no panic on any path.

use hmac::digest::KeyInit;
use hmac::Hmac;
use sha2::{Digest, Sha256};

/// A fresh HMAC-SHA256 under `key` (any length).
pub fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <Hmac<Sha256> as KeyInit>::new(&block.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::Mac;

    #[test]
    fn matches_hmac_for_every_key_length() {
        for len in [0, 1, 32, 63, 64, 65, 200] {
            let key: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut ours = hmac_sha256(&key);
            let mut theirs = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
            ours.update(b"message");
            theirs.update(b"message");
            assert_eq!(
                ours.finalize().into_bytes(),
                theirs.finalize().into_bytes(),
                "{len}"
            );
        }
    }
}
