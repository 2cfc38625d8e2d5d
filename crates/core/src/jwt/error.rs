//! Why a token is refused, in Envoy's `jwt_verify_lib` words: the bottom of the JWT modules, so
//! parsing (`jws`) and claims (`claims`) can both name errors without importing each other.

/// Why a token is not acceptable, in Envoy's words (`Display` gives the exact text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    Missing,
    BadFormat,
    HeaderBadBase64,
    HeaderBadJson,
    HeaderBadAlg,
    AlgNotImplemented,
    HeaderBadKid,
    UnknownCritical,
    BadTyp,
    PayloadBadBase64,
    PayloadBadJson,
    BadIss,
    BadSub,
    BadIat,
    BadNbf,
    BadExp,
    BadAud,
    SignatureBadBase64,
    UnknownIssuer,
    NotYetValid,
    Expired,
    VerificationFails,
    KidAlgMismatch,
    /// The keys could not be fetched. Istio never says so: istiod then inlines a fake key set
    /// (one RSA key, `kid` "abc", `CreateFakeJwks`), and Envoy answers as against it: a token
    /// naming another `kid` matches no key, any other fails verification.
    KeysUnavailable {
        kid_matched: bool,
    },
    MultipleTokens,
    TooLong,
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JwtError::Missing => "Jwt is missing",
            JwtError::BadFormat => {
                "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
            }
            JwtError::HeaderBadBase64 => "Jwt header is an invalid Base64url encoded",
            JwtError::HeaderBadJson => "Jwt header is an invalid JSON",
            JwtError::HeaderBadAlg => "Jwt header [alg] field is required and must be a string",
            JwtError::AlgNotImplemented => "Jwt header [alg] is not supported",
            JwtError::HeaderBadKid => "Jwt header [kid] field is not a string",
            JwtError::UnknownCritical => {
                "Jwt header [crit] lists an extension this verifier does not understand"
            }
            JwtError::BadTyp => "Jwt header [typ] is not JWT",
            JwtError::PayloadBadBase64 => "Jwt payload is an invalid Base64url encoded",
            JwtError::PayloadBadJson => "Jwt payload is an invalid JSON",
            JwtError::BadIss => "Jwt payload [iss] field is not a string",
            JwtError::BadSub => "Jwt payload [sub] field is not a string",
            JwtError::BadIat => "Jwt payload [iat] field is not a positive 64 bit integer",
            JwtError::BadNbf => "Jwt payload [nbf] field is not a positive 64 bit integer",
            JwtError::BadExp => "Jwt payload [exp] field is not a positive 64 bit integer",
            JwtError::BadAud => "Jwt payload [aud] field is not a string or string list",
            JwtError::SignatureBadBase64 => "Jwt signature is an invalid Base64url encoded",
            JwtError::UnknownIssuer => "Jwt issuer is not configured",
            JwtError::NotYetValid => "Jwt not yet valid",
            JwtError::Expired => "Jwt is expired",
            JwtError::VerificationFails => "Jwt verification fails",
            JwtError::KidAlgMismatch => "Jwks doesn't have key to match kid or alg from Jwt",
            JwtError::KeysUnavailable { kid_matched: true } => "Jwt verification fails",
            JwtError::KeysUnavailable { kid_matched: false } => {
                "Jwks doesn't have key to match kid or alg from Jwt"
            }
            JwtError::MultipleTokens => "Found multiple Jwt tokens",
            JwtError::TooLong => "Jwt is too long",
        })
    }
}
