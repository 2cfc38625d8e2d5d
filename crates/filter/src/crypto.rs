//! Signature checks through Envoy's `verify_signature` foreign function (BoringSSL) for RSA
//! PKCS#1 and ECDSA, with the core's software verifiers for everything else and for hosts without
//! it. What this build cannot verify fails closed, and says so once per algorithm.

use std::cell::Cell;

use super::host;
use log::{info, warn};

use apirule_core::jwt::crypto::{Crypto, Software};
use apirule_core::jwt::foreign;
use apirule_core::jwt::jwks::PublicKey;
use apirule_core::jwt::jws::Jws;

pub struct HostCrypto {
    native: Cell<bool>,
    announced: Cell<bool>,
    /// A refused call was reported (once).
    refused: Cell<bool>,
    /// Algorithms already reported as unverifiable here (bit per `Alg`), to log each once.
    missing: Cell<u32>,
}

impl HostCrypto {
    pub fn new(native: bool) -> HostCrypto {
        HostCrypto {
            native: Cell::new(native),
            announced: Cell::new(false),
            refused: Cell::new(false),
            missing: Cell::new(0),
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
                    // No such function: this host never has it; software from now on.
                    Ok(None) => {
                        warn!("host has no verify_signature; verifying in software where this module can");
                        self.native.set(false);
                    }
                    // The function refused this call: this token goes to software (which may
                    // not cover it, and then fails closed); the next one tries the host again.
                    Err(code) => {
                        if !self.refused.replace(true) {
                            warn!("verify_signature refused a call (status {code}); that token is verified in software where this module can");
                        }
                    }
                }
            }
        }
        let alg = jws.header.alg;
        if !Software::covers(alg) {
            let bit = 1u32 << (alg as u32 % 32);
            if self.missing.get() & bit == 0 {
                self.missing.set(self.missing.get() | bit);
                warn!(
                    "{} tokens are refused: {}; the portable module (apirule_wasm_portable.wasm) verifies them in software",
                    alg.as_str(),
                    if self.native.get() {
                        "Envoy's verify_signature does not cover them"
                    } else {
                        "this host has no verify_signature"
                    }
                );
            }
            return false;
        }
        Software.verify(jws, key)
    }
}
