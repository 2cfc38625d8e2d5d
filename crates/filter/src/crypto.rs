//! Signature checks through Envoy's `verify_signature` foreign function (BoringSSL) for RSA
//! PKCS#1 and ECDSA, with the pure-Rust path for everything else and for hosts without it.

use std::cell::Cell;

use super::host;
use log::{info, warn};

use apirule_core::jwt::crypto::{Crypto, PureRust};
use apirule_core::jwt::foreign;
use apirule_core::jwt::jwks::PublicKey;
use apirule_core::jwt::jws::Jws;

pub struct HostCrypto {
    native: Cell<bool>,
    announced: Cell<bool>,
}

impl HostCrypto {
    pub fn new(native: bool) -> HostCrypto {
        HostCrypto {
            native: Cell::new(native),
            announced: Cell::new(false),
        }
    }
}

impl Crypto for HostCrypto {
    fn verify(&self, jws: &Jws<'_>, key: &PublicKey) -> bool {
        if self.native.get() {
            if let Some(args) = foreign::arguments(jws, key) {
                match host::call_foreign(foreign::FUNCTION, &args) {
                    Ok(Some(bytes)) => {
                        if let Some(verified) = foreign::result(&bytes) {
                            if !self.announced.replace(true) {
                                info!(
                                    "Envoy's verify_signature in use for {}",
                                    jws.header.alg.as_str()
                                );
                            }
                            return verified;
                        }
                    }
                    Ok(None) => {}
                    Err(code) => {
                        warn!("host has no usable verify_signature (status {code}); using pure-Rust verification");
                        self.native.set(false);
                    }
                }
            }
        }
        PureRust.verify(jws, key)
    }
}
