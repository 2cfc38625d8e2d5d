//! JWT building blocks, below every access strategy: compact JWS parsing, claims, JWK Sets, the
//! key store, the verified-token cache, signature checks. Nothing here knows a rule or a request.

pub mod cache;
pub mod claims;
pub mod crypto;
pub mod der;
pub mod error;
pub mod foreign;
pub mod jwks;
pub mod jws;
pub mod keystore;
pub mod lease;
pub mod points;
