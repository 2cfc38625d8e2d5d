//! The compact form of `apiRules`: the same JSON list, gzip-compressed and base64-encoded, in
//! `apiRulesGzip`. One WasmPlugin holds every APIRule, and JSON of similar objects compresses
//! about tenfold, so the compact form keeps thousands of APIRules under client-side
//! `kubectl apply`'s 256 KiB annotation and etcd's 1.5 MiB object limit.
//!
//! `printf '%s' "$RULES_JSON" | gzip -9 | base64 -w0` makes the same thing by hand.

use base64::Engine;
use serde_json::Value;

/// A decompressed configuration larger than this is refused (a small input must not be able to
/// make the filter allocate without bound).
pub const MAX_INFLATED: usize = 64 << 20;

/// `apiRulesGzip` → the APIRule list. Errors say what is wrong, for `.apiRulesGzip: ...`.
pub fn decode(text: &str) -> Result<Vec<Value>, String> {
    let packed: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let gz = base64::engine::general_purpose::STANDARD
        .decode(&packed)
        .map_err(|e| format!("not base64: {e}"))?;
    let json = gunzip(&gz)?;
    match serde_json::from_slice::<Value>(&json) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(_) => Err("the decompressed JSON is not a list of APIRules".into()),
        Err(e) => Err(format!("the decompressed text is not JSON: {e}")),
    }
}

/// The APIRule list → `apiRulesGzip`.
pub fn encode(api_rules: &[Value]) -> String {
    let json = serde_json::to_vec(api_rules).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(gzip(&json))
}

/// gzip (RFC 1952) with the best deflate compression; deterministic (no name, no time).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255];
    out.extend(miniz_oxide::deflate::compress_to_vec(data, 9));
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// One gzip member: header fields skipped as their flags say, the deflate stream inflated with a
/// bound, CRC-32 and length checked.
pub fn gunzip(data: &[u8]) -> Result<Vec<u8>, String> {
    gunzip_within(data, MAX_INFLATED)
}

fn gunzip_within(data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let bad = || "not gzip (RFC 1952) data".to_owned();
    if data.len() < 18 || data[0..3] != [0x1f, 0x8b, 8] || data[3] & 0xe0 != 0 {
        return Err(bad());
    }
    let flags = data[3];
    let mut at = 10usize;
    if flags & FEXTRA != 0 {
        let len = data.get(at..at + 2).ok_or_else(bad)?;
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let end = data
                .get(at..)
                .and_then(|d| d.iter().position(|b| *b == 0))
                .ok_or_else(bad)?;
            at += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    let body = data.get(at..data.len() - 8).ok_or_else(bad)?;
    let trailer = &data[data.len() - 8..];
    let out = miniz_oxide::inflate::decompress_to_vec_with_limit(body, limit).map_err(|e| {
        format!("gzip data does not inflate (corrupt, or over {limit} bytes): {e:?}")
    })?;
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if crc32(&out) != crc || out.len() as u32 != len {
        return Err("gzip checksum or length does not match (corrupt data)".into());
    }
    Ok(out)
}

/// CRC-32 (IEEE), as gzip uses it.
pub fn crc32(data: &[u8]) -> u32 {
    let table: Vec<u32> = (0..256u32)
        .map(|n| {
            (0..8).fold(n, |c, _| {
                if c & 1 == 1 {
                    (c >> 1) ^ 0xedb8_8320
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    !data.iter().fold(!0u32, |crc, b| {
        table[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crc() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn round_trip_and_tenfold() {
        let rules: Vec<Value> = (0..200)
            .map(|i| json!({"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
                            "metadata": {"name": format!("app-{i}"), "namespace": "prod"},
                            "spec": {"hosts": [format!("app-{i}.example.com")],
                                     "service": {"name": format!("app-{i}"), "port": 8080},
                                     "rules": [{"path": "/{**}", "methods": ["GET"], "noAuth": true}]}}))
            .collect();
        let packed = encode(&rules);
        assert_eq!(decode(&packed), Ok(rules.clone()));
        let plain = serde_json::to_vec(&rules).unwrap_or_default().len();
        assert!(packed.len() * 8 < plain, "{} vs {plain}", packed.len());
        // Line-wrapped base64 (`base64` without -w0) reads the same.
        let wrapped: String = packed
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned() + "\n")
            .collect();
        assert_eq!(decode(&wrapped), Ok(rules));
    }

    #[test]
    fn broken_input_is_an_error_not_a_panic() {
        let good = gzip(b"[]");
        assert_eq!(gunzip(&good), Ok(b"[]".to_vec()));
        for cut in 0..good.len() {
            assert!(gunzip(&good[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x55;
            let _ = gunzip(&bad);
        }
        assert!(decode("%%%").is_err());
        let not_list = base64::engine::general_purpose::STANDARD.encode(gzip(b"{}"));
        assert!(decode(&not_list).is_err_and(|e| e.contains("not a list")));
        // Every flag a gzip writer may set is skipped correctly.
        let mut named = vec![
            0x1f,
            0x8b,
            8,
            8 | 4 | 16,
            0,
            0,
            0,
            0,
            0,
            3,
            2,
            0,
            b'x',
            b'y',
        ];
        named.extend_from_slice(b"rules.json\0a comment\0");
        named.extend_from_slice(&good[10..]);
        assert_eq!(gunzip(&named), Ok(b"[]".to_vec()));
    }

    #[test]
    fn a_bomb_is_refused() {
        let zeros = vec![0u8; (1 << 20) + 1];
        let packed = gzip(&zeros);
        assert!(packed.len() < 2048, "a small input");
        assert!(gunzip_within(&packed, 1 << 20).is_err());
        assert!(gunzip_within(&packed, 2 << 20).is_ok());
    }
}
