//! A crypto provider that makes a fuzz case replay exactly and its handshake cheap.
//!
//! - Random numbers come from a generator that [`reset`] puts back to the same state at
//!   the start of every case: client and server randoms, session ids, every "random"
//!   byte rustls asks for is the same each time the case runs.
//! - Key exchange is a stand-in for X25519 (same code point, 32-byte shares) whose shared
//!   secret is the XOR of both shares: no scalar multiplication, and deterministic (real
//!   X25519 draws its ephemeral keys inside aws-lc, outside the provider's generator).
//!   Shares of the wrong length are refused as X25519 would.
//! - The certificate is Ed25519, whose signatures are deterministic and cheap.
//!
//! Cipher suites and signature verification stay aws-lc-rs's own: the record layer and
//! the certificate checks under test are the real ones.

use std::cell::Cell;
use std::sync::Arc;

use rustls::crypto::{
    aws_lc_rs, ActiveKeyExchange, CryptoProvider, GetRandomFailed, SecureRandom, SharedSecret,
    SupportedKxGroup,
};
use rustls::{NamedGroup, PeerMisbehaved};
use sslfile::rustls;

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(SEED) };
}

const SEED: u64 = 0x5eed_f0f0_1234_abcd;

/// Puts the generator back to its starting state: call at the start of every case.
pub fn reset() {
    STATE.with(|s| s.set(SEED));
}

fn next_u64() -> u64 {
    // splitmix64
    STATE.with(|s| {
        let x = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(x);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

#[derive(Debug)]
struct Replayable;

impl SecureRandom for Replayable {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        for chunk in buf.chunks_mut(8) {
            let bytes = next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

/// The X25519 stand-in.
#[derive(Debug)]
struct XorKx;

impl SupportedKxGroup for XorKx {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let mut share = [0u8; 32];
        Replayable.fill(&mut share).expect("never fails");
        Ok(Box::new(XorShare(share)))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

struct XorShare([u8; 32]);

impl ActiveKeyExchange for XorShare {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let peer: &[u8; 32] = peer
            .try_into()
            .map_err(|_| rustls::Error::from(PeerMisbehaved::InvalidKeyShare))?;
        let secret: Vec<u8> = self.0.iter().zip(peer).map(|(a, b)| a ^ b).collect();
        Ok(SharedSecret::from(secret))
    }

    fn pub_key(&self) -> &[u8] {
        &self.0
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// aws-lc-rs with the replayable generator and the X25519 stand-in.
pub fn provider() -> Arc<CryptoProvider> {
    static XOR_KX: XorKx = XorKx;
    static RANDOM: Replayable = Replayable;
    Arc::new(CryptoProvider {
        kx_groups: vec![&XOR_KX],
        secure_random: &RANDOM,
        ..aws_lc_rs::default_provider()
    })
}

/// A self-signed Ed25519 certificate for `localhost`: (certificate PEM, key PEM).
pub fn certificate() -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("Ed25519 key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("self-signed");
    (cert.pem(), key.serialize_pem())
}
